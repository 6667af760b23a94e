"""ParallelBench-style list tasks on person names, regenerated locally with fixed seeds.

Each example is a task word, its arguments and a list of 3-6 names; the answer is a list of
names. Tasks: ``copy``, ``reverse``, ``sort``, ``shuffle`` (any permutation other than the
input is valid), ``insert`` (name at index), ``remove`` (index), ``replace`` (index with name),
``insert_random`` / ``remove_random`` / ``replace_random`` (any valid position). Exact-match
tasks have one right answer; the ``shuffle`` and ``*_random`` tasks accept any valid answer,
which is where decoding many positions in parallel breaks (independent per-position choices
produce duplicates).

Token layout (fixed length, so a masked LM fills a fixed answer block)::

    [BOS] task arg1 arg2 [SEP] name_1 .. name_n [PAD..] [ANS] out_1 .. out_m [EOS..]
"""

from __future__ import annotations

import random
from dataclasses import dataclass

NAMES = (
    "alice bob carol dave erin frank grace heidi ivan judy mallory nina oscar peggy quinn rupert "
    "sybil trent ursula victor wendy xavier yvonne zack"
).split()
TASKS = ("copy", "reverse", "sort", "shuffle", "insert", "remove", "replace", "insert_random", "remove_random", "replace_random")
EXACT_TASKS = ("copy", "reverse", "sort", "insert", "remove", "replace")
MIN_NAMES, MAX_NAMES = 3, 6
MAX_OUT = MAX_NAMES + 1
SPECIALS = ("[PAD]", "[BOS]", "[SEP]", "[ANS]", "[EOS]", "[NONE]", "[MASK]")


class ListVocab:
    """Word-level vocabulary: specials, task words, index words and names."""

    def __init__(self) -> None:
        words = list(SPECIALS) + list(TASKS) + [f"@{i}" for i in range(MAX_OUT)] + NAMES
        self.itos = words
        self.stoi = {w: i for i, w in enumerate(words)}

    def __len__(self) -> int:
        return len(self.itos)

    def id(self, word: str) -> int:
        if word not in self.stoi:
            raise ValueError(f"word: {word!r} is not in the list-task vocabulary")
        return self.stoi[word]

    @property
    def pad(self) -> int:
        return self.stoi["[PAD]"]

    @property
    def eos(self) -> int:
        return self.stoi["[EOS]"]

    @property
    def mask(self) -> int:
        return self.stoi["[MASK]"]

    @property
    def name_ids(self) -> list[int]:
        return [self.stoi[n] for n in NAMES]


PROMPT_LEN = 1 + 3 + 1 + MAX_NAMES + 1  # BOS, task + 2 args, SEP, names, ANS


@dataclass(frozen=True)
class ListExample:
    task: str
    names: tuple[str, ...]
    args: tuple[str, ...]
    answer: tuple[str, ...]

    def prompt_words(self) -> list[str]:
        args = list(self.args) + ["[NONE]"] * (2 - len(self.args))
        names = list(self.names) + ["[PAD]"] * (MAX_NAMES - len(self.names))
        return ["[BOS]", self.task, *args, "[SEP]", *names, "[ANS]"]

    def answer_words(self) -> list[str]:
        return list(self.answer) + ["[EOS]"] * (MAX_OUT - len(self.answer))


def make_example(task: str, rng: random.Random) -> ListExample:
    """One example of ``task`` drawn from ``rng``."""
    if task not in TASKS:
        raise ValueError(f"task: expected one of {TASKS}, got {task!r}")
    n = rng.randint(MIN_NAMES, MAX_NAMES)
    names = tuple(rng.sample(NAMES, n))
    others = [x for x in NAMES if x not in names]
    base = task.replace("_random", "")
    if task == "copy":
        return ListExample(task, names, (), names)
    if task == "reverse":
        return ListExample(task, names, (), names[::-1])
    if task == "sort":
        return ListExample(task, names, (), tuple(sorted(names)))
    if task == "shuffle":
        perm = list(names)
        while tuple(perm) == names:
            rng.shuffle(perm)
        return ListExample(task, names, (), tuple(perm))
    if base == "insert":
        new, idx = rng.choice(others), rng.randint(0, n)
        out = list(names)
        out.insert(idx, new)
        args = (new, f"@{idx}") if task == "insert" else (new,)
        return ListExample(task, names, args, tuple(out))
    if base == "remove":
        idx = rng.randrange(n)
        out = list(names)
        del out[idx]
        return ListExample(task, names, (f"@{idx}",) if task == "remove" else (), tuple(out))
    idx, new = rng.randrange(n), rng.choice(others)  # replace
    out = list(names)
    out[idx] = new
    args = (f"@{idx}", new) if task == "replace" else (new,)
    return ListExample(task, names, args, tuple(out))


def generate(task: str, count: int, seed: int) -> list[ListExample]:
    """``count`` examples of ``task``; the same (task, count, seed) always gives the same list."""
    rng = random.Random(f"{task}:{seed}")
    return [make_example(task, rng) for _ in range(count)]


def check(example: ListExample, output: list[str] | tuple[str, ...]) -> bool:
    """True when ``output`` (names, EOS/padding removed) is a right answer to ``example``."""
    out = [w for w in output if w not in ("[EOS]", "[PAD]")]
    if "[EOS]" in output:  # nothing but EOS may follow the first EOS
        first = list(output).index("[EOS]")
        if any(w != "[EOS]" for w in output[first:]):
            return False
    names = list(example.names)
    if example.task in EXACT_TASKS:
        return tuple(out) == example.answer
    if example.task == "shuffle":
        return sorted(out) == sorted(names) and out != names
    if example.task == "insert_random":
        new = example.args[0]
        return len(out) == len(names) + 1 and any(out[:i] + out[i + 1 :] == names and out[i] == new for i in range(len(out)))
    if example.task == "remove_random":
        return len(out) == len(names) - 1 and any(names[:i] + names[i + 1 :] == out for i in range(len(names)))
    if example.task == "replace_random":
        new = example.args[0]
        if len(out) != len(names):
            return False
        diff = [i for i, (a, b) in enumerate(zip(names, out)) if a != b]
        return len(diff) == 1 and out[diff[0]] == new
    raise ValueError(f"task: unknown task {example.task!r}")
