"""Head-wise LSTMs (FlashRNN, arXiv 2412.07752): the operation, a step-by-step PyTorch reference and
the authors' flashrnn backends."""

from kernels.lstm_heads import (  # noqa: F401
    flashrnn_backends,
    ops,  # noqa: F401  (registers the operation first)
    reference,
)
