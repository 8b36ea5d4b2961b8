"""Errors raised for problems with the user's input, as opposed to bugs."""


class DeepclustError(ValueError):
    """A problem with user input (data, file, parameter) described in one readable line.

    The CLI prints ``error: <message>`` for these and exits with status 2, without a traceback.
    """


class ModelFileError(DeepclustError):
    """A saved model that cannot be loaded: missing, truncated, tampered or mismatched."""


class TrainingDiverged(DeepclustError):
    """A loss became NaN or infinite during training; the message names where and what to try."""
