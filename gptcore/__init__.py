"""gptcore: GPT-2 written as in chapter 4 of "Build a Large Language Model (From Scratch)".

It never imports Streamlit: the app's pages read its results, as NumPy arrays, and draw them.

Chapter 4, section by section (docs/chapter4.md adds the page and the test of each):

    4.1 the GPT-2 124M configuration       config.py      GPT_CONFIG_124M
    4.2 layer normalisation                 layers.py      LayerNorm
    4.3 GELU and the feed-forward network   layers.py      GELU, FeedForward
    4.4 shortcut connections                gradients.py   ExampleDeepNeuralNetwork, shortcut_experiment
    4.5 the transformer block               model.py       TransformerBlock (attention.py: MultiHeadAttention)
    4.6 the GPT model                       model.py       GPTModel (stats.py counts its parameters)
    4.7 generating text                     generation.py  generate_text_simple, generate

The book's chapter-5 files load with load_book_state_dict (book.py).
"""

from .attention import KVCache, MultiHeadAttention
from .batching import trace_batch
from .book import load_book_state_dict
from .building import build_model
from .checkpoints import list_checkpoints, load_checkpoint, save_checkpoint
from .config import GPT_CONFIG_124M, PRESETS, GPTConfig
from .decoding import BatchKVCache, DecodeBatch
from .edits import (
    HeadAblation,
    NeuronAblation,
    ResidualPatch,
    ShortcutRemoval,
    SublayerAblation,
    applying,
    run_with_edits,
)
from .generation import Candidate, Step, generate, generate_steps, generate_text_simple
from .gradients import ExampleDeepNeuralNetwork, GradientReport, gradient_norms, shortcut_experiment
from .hooks import HookPoint, Recorder, recording
from .hub import load_pretrained
from .layers import GELU, FeedForward, LayerNorm
from .local import load_local
from .model import GPTModel, TransformerBlock
from .stats import count_parameters, count_parameters_tied, parameter_breakdown, size_mb, size_report
from .tokenizer import get_tokenizer, text_to_token_ids, token_ids_to_text, token_label, token_labels
from .trace import Trace, trace
from .training import (
    TRAINING_PRESETS,
    EvalReport,
    StepReport,
    TrainingDataError,
    TrainingResult,
    TrainingSettings,
    new_training_model,
    train,
)
from .weights import load_hf_safetensors, load_hf_state_dict

__all__ = [
    "GELU",
    "GPT_CONFIG_124M",
    "PRESETS",
    "TRAINING_PRESETS",
    "BatchKVCache",
    "Candidate",
    "DecodeBatch",
    "EvalReport",
    "ExampleDeepNeuralNetwork",
    "FeedForward",
    "GPTConfig",
    "GPTModel",
    "GradientReport",
    "HeadAblation",
    "HookPoint",
    "KVCache",
    "LayerNorm",
    "MultiHeadAttention",
    "NeuronAblation",
    "Recorder",
    "ResidualPatch",
    "ShortcutRemoval",
    "Step",
    "StepReport",
    "SublayerAblation",
    "Trace",
    "TrainingDataError",
    "TrainingResult",
    "TrainingSettings",
    "TransformerBlock",
    "applying",
    "build_model",
    "count_parameters",
    "count_parameters_tied",
    "generate",
    "generate_steps",
    "generate_text_simple",
    "get_tokenizer",
    "gradient_norms",
    "list_checkpoints",
    "load_book_state_dict",
    "load_checkpoint",
    "load_hf_safetensors",
    "load_hf_state_dict",
    "load_local",
    "load_pretrained",
    "new_training_model",
    "parameter_breakdown",
    "recording",
    "run_with_edits",
    "save_checkpoint",
    "shortcut_experiment",
    "size_mb",
    "size_report",
    "text_to_token_ids",
    "token_ids_to_text",
    "token_label",
    "token_labels",
    "trace",
    "trace_batch",
    "train",
]
