"""A byte-level BPE tokenizer trained on the training texts, with a chat template.

Numbers are split left to right into chunks of at most ``number_digits`` digits
before the byte-level split, and every chunk ``0`` .. ``10**number_digits - 1`` is
one token of the vocabulary (checked after training): with 3, "1234" is ``123`` +
``4``, as the GPT-4 and Llama 3 tokenizers split it; with 1, a number's tokens are
its digits. The models never do arithmetic in their tokens (the program they
write does); what they must do is copy the question's numbers into their reasoning
and their program, and a number that is one token is copied by one attention
lookup instead of a digit-by-digit induction (on the CPU demo, 3 instead of 1 took
pretraining from 30% to 58% program accuracy on the same steps: README). The
byte-level alphabet plus a ByteLevel decoder make ``decode(encode(text)) == text``
for every text, indentation included (a ``Whitespace`` pre-tokenizer would lose
the indentation programs need).

The chat template renders ``system``, ``user`` and ``assistant`` turns::

    <|bos|><|system|>\\n...<|end|><|user|>\\n...<|end|><|assistant|>\\n...<|eos|>

Assistant content and its closing ``<|eos|>`` sit between ``{% generation %}``
markers, so ``return_assistant_tokens_mask=True`` (and TRL's
``assistant_only_loss=True``) select exactly the tokens the model must learn to
write, the end of turn included; generation stops at ``<|eos|>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
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


# How often every number chunk is shown to the BPE trainer beside the texts: often enough that
# their merges come before all but the most frequent word merges.
NUMBER_REPEATS = 50


def number_chunks(number_digits: int) -> list[str]:
    """Every chunk a number splits into that must be one token: "0" .. "9...9"."""
    return [str(n) for n in range(10**number_digits)]


def train_bpe(
    texts: Iterable[str], vocab_size: int, min_frequency: int = 2, number_digits: int = 1
) -> Tokenizer:
    """Train a byte-level BPE on `texts`; the special tokens take the first ids, and every
    number chunk of up to `number_digits` digits is one token (ValueError if `vocab_size`
    leaves no room for them)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(rf"\d{{1,{number_digits}}}"), behavior="isolated"),
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
    chunks = number_chunks(number_digits)
    tokenizer.train_from_iterator(chain(texts, chunks * NUMBER_REPEATS), trainer=trainer)
    split = [chunk for chunk in chunks if len(tokenizer.encode(chunk).ids) != 1]
    if split:
        raise ValueError(
            f"vocab_size {vocab_size} leaves {len(split)} of the {len(chunks)} numbers of up to "
            f"{number_digits} digits more than one token (e.g. {split[0]!r}): raise vocab_size "
            f"or lower number_digits"
        )
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
