"""The model served over HTTP (``python -m lit_rnn.serve``), on LitServe: what a request may hold and who may send it
(``intake``), the model answering batches of images in LitServe's workers (``digit_api``), the server with its page
and API description (``server``), and the page itself (``page/index.html``). Imports ``trained``, ``model``, ``data``
and ``base``; nothing of training."""
