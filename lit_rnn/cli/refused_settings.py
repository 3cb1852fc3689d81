"""Lightning's own refusals of a setting, and a class given by its ``class_path`` that cannot be built, as one line."""

import re
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from lightning.fabric.utilities.exceptions import MisconfigurationException

from lit_rnn.base.errors import ConfigError, summarize


@contextmanager
def settings_refused_by_lightning() -> Iterator[None]:
    """Lightning's own checks of the Trainer's and the callbacks' arguments, as one line naming what it refused.

    Only errors raised inside Lightning itself, of the kinds it checks arguments with, count as refused settings, and
    the constructor's own error where a class given by its ``class_path`` (a logger, a callback) could not be built;
    anything else is not the user's to fix and goes on to the last-resort handler.
    """
    try:
        yield
    except (MisconfigurationException, ValueError, TypeError) as error:
        refused = refused_class(error)
        if refused is not None:
            raise ConfigError(
                f"{refused} Fix its init_args, install what it needs, or choose another class (--help lists "
                "the options)."
            ) from None
        frames = traceback.extract_tb(error.__traceback__)
        if not frames or "/lightning/" not in frames[-1].filename:
            raise
        raise ConfigError(
            f"Lightning refused the settings: {summarize(error)} Change them on the command line or "
            "in the YAML config (--help lists them)."
        ) from None


def refused_class(error: BaseException) -> str | None:
    """Why a class given by its ``class_path`` could not be built, in one sentence; None for any other error.

    jsonargparse reports such a failure as the value not validating against any type the option accepts, with the
    constructor's error as the cause (wrapped in "Problem with given class_path" for some): a package the class needs
    that is not installed, or an argument it refuses.
    """
    given = re.search(r"class_path='([\w.]+)'", str(error))
    if (
        error.__cause__ is None
        or given is None
        or "Does not validate against any of the Union subtypes" not in str(error)
    ):
        return None
    cause = error.__cause__
    reason = (
        re.sub(r"^Problem with given class_path '[\w.]+':\s*", "", str(cause)) if isinstance(cause, ValueError) else ""
    )
    reason = " ".join(reason.split()) or summarize(cause)
    return f"{given.group(1)} could not be built from its settings: {reason.rstrip('.')}."
