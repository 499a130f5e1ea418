"""The book's parameter names, and the older names gptcore's own checkpoints were saved under.

gptcore names every parameter as the book's chapter-4 GPTModel does (``trf_blocks.0.ff.layers.0.weight``),
so a state dict moves between the two unchanged. Checkpoints written before the feed-forward took the
book's ``nn.Sequential`` called its two Linear layers ``fc_in`` and ``fc_out``; they still load: each
stored name is read under the name it has now.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

RENAMED = {"fc_in": "layers.0", "fc_out": "layers.2"}  # the feed-forward's old layer names -> the book's
_OLD_LAYER = re.compile(r"(^|\.)(fc_in|fc_out)\.")


def current_name(stored: str) -> str:
    """Today's name for a stored tensor: 'trf_blocks.3.ff.fc_in.bias' -> 'trf_blocks.3.ff.layers.0.bias'."""
    return _OLD_LAYER.sub(lambda match: f"{match[1]}{RENAMED[match[2]]}.", stored)


def stored_names(stored: Iterable[str]) -> dict[str, str]:
    """Today's name -> the name a file stores it under, for every tensor of the file."""
    return {current_name(name): name for name in stored}
