"""Text drawn as HTML: the prompt's tokens as coloured chips, a generated text with its new part highlighted."""

from __future__ import annotations

import html

import numpy as np

from gptcore import get_tokenizer

CHIP_COLOURS = ("#dbeafe", "#fde2e4", "#dcfce7", "#fef3c7", "#ede9fe", "#cffafe")
# Characters that Markdown (or Streamlit's :emoji: and $maths$ extensions) could read as syntax. None of
# them occurs in what html.escape writes (&amp; &lt; &gt; &quot; &#x27;), so they can be replaced after it.
_MARKDOWN_ENTITIES = str.maketrans({c: f"&#{ord(c)};" for c in "*_`$:[]~\\|{}"})


def html_text(text: str) -> str:
    """Text that shows literally inside st.markdown(..., unsafe_allow_html=True): HTML-escaped, and
    Markdown characters written as entities so that no label is read as formatting."""
    return html.escape(text, quote=True).translate(_MARKDOWN_ENTITIES)


def token_chips(token_ids: np.ndarray, labels: list[str]) -> str:
    """One HTML block of chips: each token's visible label over its id, hover for its bytes."""
    tokenizer = get_tokenizer()
    chips = []
    for position, (token_id, label) in enumerate(zip(token_ids, labels, strict=True)):
        raw = tokenizer.decode_single_token_bytes(int(token_id))
        title = f"position {position}, id {int(token_id)}, bytes {raw.hex(' ').upper()}"
        chips.append(
            f'<span title="{html_text(title)}" style="display:inline-flex;flex-direction:column;'
            f"align-items:center;margin:0 4px 6px 0;padding:2px 7px;border-radius:6px;"
            f'border:1px solid #bbb;background:{CHIP_COLOURS[position % len(CHIP_COLOURS)]};">'
            f'<span style="font-family:monospace;font-size:1.05em;white-space:pre;color:#111;">'
            f"{html_text(label)}</span>"
            f'<span style="font-size:0.72em;color:#555;">{int(token_id)}</span></span>'
        )
    # One line, no blank lines: Markdown keeps an HTML block whole only until the first blank line.
    return '<div style="display:flex;flex-wrap:wrap;line-height:1.2;">' + "".join(chips) + "</div>"


def text_html(prompt_text: str, generated_text: str) -> str:
    """The text as literal characters: escaped, in a <pre>, the generated part highlighted."""
    return (
        '<pre style="white-space: pre-wrap; overflow-wrap: anywhere; padding: 0.75rem 1rem; margin: 0; '
        'border-radius: 0.5rem; background: rgba(128, 128, 128, 0.12); font-size: 0.95rem;">'
        f'<span style="opacity: 0.6">{html.escape(prompt_text)}</span>'
        f'<span style="background: rgba(255, 190, 0, 0.35); border-radius: 0.2rem">{html.escape(generated_text)}</span>'
        "</pre>"
    )
