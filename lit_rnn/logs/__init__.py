"""What the loggers get, whatever their kind: pictures of digits and of the confusion matrix (``figures``, drawn;
``log_figures``, logged), the settings beside the metrics (``hparams``, ``outputs``). Imports ``model``, ``data``
and ``base``."""
