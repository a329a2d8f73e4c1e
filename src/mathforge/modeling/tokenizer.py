"""A byte-level BPE tokenizer trained on the training texts, with a chat template.

Digits are split one per token (``Digits(individual_digits=True)`` before the
byte-level split), so a number's tokens are its digits and arithmetic is not at
the mercy of merges; the byte-level alphabet plus a ByteLevel decoder make
``decode(encode(text)) == text`` for every text, indentation included (a
``Whitespace`` pre-tokenizer would lose the indentation programs need).

The chat template renders ``system``, ``user`` and ``assistant`` turns::

    <|bos|><|system|>\\n...<|end|><|user|>\\n...<|end|><|assistant|>\\n...<|eos|>

Assistant content and its closing ``<|eos|>`` sit between ``{% generation %}``
markers, so ``return_assistant_tokens_mask=True`` (and TRL's
``assistant_only_loss=True``) select exactly the tokens the model must learn to
write, the end of turn included; generation stops at ``<|eos|>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

BOS, EOS, PAD, END = "<|bos|>", "<|eos|>", "<|pad|>", "<|end|>"
ROLE_TOKENS = {role: f"<|{role}|>" for role in ("system", "user", "assistant")}
SPECIAL_TOKENS = [PAD, BOS, EOS, END, *ROLE_TOKENS.values()]  # ids 0.. in this order

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|assistant|>\\n' }}"
    "{% generation %}{{ message['content'] }}{{ eos_token }}{% endgeneration %}"
    "{% elif message['role'] in ['system', 'user'] %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>' }}"
    "{% else %}"
    "{{ raise_exception('unknown chat role ' + message['role']) }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def train_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    """Train a byte-level BPE on `texts`; the special tokens take the first ids."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def wrap_tokenizer(tokenizer: Tokenizer, model_max_length: int = 1024) -> PreTrainedTokenizerFast:
    """The trained tokenizer as a transformers fast tokenizer with our specials and template."""
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        extra_special_tokens=[END, *ROLE_TOKENS.values()],
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def round_trip_failures(tokenizer: Tokenizer, texts: Sequence[str]) -> list[int]:
    """Indices of texts that do not decode back to themselves exactly."""
    encodings = tokenizer.encode_batch(list(texts), add_special_tokens=False)
    decoded = tokenizer.decode_batch([e.ids for e in encodings], skip_special_tokens=False)
    return [i for i, (text, back) in enumerate(zip(texts, decoded, strict=True)) if text != back]


def fertility(tokenizer: Tokenizer, texts: Sequence[str]) -> float:
    """Tokens per whitespace-separated word over `texts` (lower = more compact)."""
    encodings = tokenizer.encode_batch(list(texts), add_special_tokens=False)
    tokens = sum(len(e.ids) for e in encodings)
    words = sum(len(text.split()) for text in texts)
    return tokens / max(words, 1)
