"""The clients of ``serve_load.py``, for locust: each posts MNIST test images as JSON pixels, one after another, and
keeps the digit of each answer. ``serve_load.py`` names the images and the answers' file in the environment."""

import json
import os
import random

from locust import FastHttpUser, events, task

BODIES = [
    json.dumps({"pixels": [[value / 255 for value in row] for row in image]}).encode()
    for image in json.load(open(os.environ["SERVE_LOAD_IMAGES"]))  # MNIST's bytes, 0-255
]
ANSWERS: list[tuple[int, int]] = []  # (image index, digit answered)


class Client(FastHttpUser):
    path = os.environ.get("SERVE_LOAD_PATH", "/predict")

    @task
    def predict(self) -> None:
        index = random.randrange(len(BODIES))
        with self.client.post(
            self.path, data=BODIES[index], headers={"Content-Type": "application/json"}, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
            elif "digit" in (answer := response.json()):
                ANSWERS.append((index, answer["digit"]))


@events.test_stop.add_listener
def save_answers(**_: object) -> None:
    with open(os.environ["SERVE_LOAD_ANSWERS"], "w") as file:
        json.dump(ANSWERS, file)
