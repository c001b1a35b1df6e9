"""Early stop: judge a config by its first answers and cut generation short when they are garbage.

A broken config (the wrong layers duplicated) typically answers with nothing, with a loop (the same
few characters or tags again and again) or with text no probe can parse, and it burns the whole
token budget doing so. The decode loop (``llama.engine``) shows a `GarbageWatch` the partial
answers every few tokens; the watch stops the config when

- at least ``n_first`` answers have settled (finished, or caught in a repetition loop),
- every settled answer is garbage: empty, unparseable when finished, or a loop with nothing
  parseable in it, and
- each probe of the set has at least one garbage answer among them (a config that is broken on
  the EQ prompts alone still answers math, and is scored).

The first settled answer that is good (parseable, or a loop around a parseable answer: small
models repeat "The answer is 42." and are scored for it) disarms the watch for the config, and an
answer that is still being written is never judged, however slow, so slow correct answers always
run to the end. The scan records a stopped config as ``early-stopped`` with what the watch saw,
never as a score. Pure: texts in, a verdict out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import ProbeItem, ProbeSet

N_FIRST = 8  # settled answers the verdict needs
MAX_PERIOD = 48  # longest repeated unit (characters) a loop is recognised by
MIN_REPEATS = 3  # times the unit must repeat at the end of the text
MIN_LOOP_CHARS = 24


def repeating(text: str, max_period: int = MAX_PERIOD, repeats: int = MIN_REPEATS) -> int:
    """The period of a loop the text ends in (the unit repeats ``repeats`` times), else 0."""
    for period in range(1, max_period + 1):
        span = max(period * repeats, MIN_LOOP_CHARS)
        if len(text) < span:
            continue
        tail = text[-span:]
        if tail[period:] == tail[:-period]:
            return period
    return 0


@dataclass
class GarbageWatch:
    """Called with every prompt's (partial text, finished) so far and the tokens decoded per
    answer; True means stop the config."""

    probes: ProbeSet
    n_first: int = N_FIRST
    stopped: bool = False
    armed: bool = True
    seen: Counter[str] = field(default_factory=Counter)
    n_tokens: int = 0  # tokens per answer decoded when the watch stopped the config
    _settled: dict[int, str] = field(default_factory=dict)  # prompt index -> "good" or a garbage kind

    def __call__(self, partials: Sequence[tuple[str, bool] | None], n_tokens: int) -> bool:
        if not self.armed or self.stopped:
            return self.stopped
        items = self.probes.items
        for k, partial in enumerate(partials):
            if partial is None or k in self._settled:
                continue
            verdict = self.judge(items[k], *partial)
            if verdict == "good":
                self.armed = False  # this config answers: never stop it
                return False
            if verdict is not None:
                self._settled[k] = verdict
        probes_seen = {items[k].probe for k in self._settled}
        probes_all = {item.probe for item in items}
        if len(self._settled) >= min(self.n_first, len(items)) and probes_seen == probes_all:
            self.stopped, self.n_tokens = True, n_tokens
            self.seen = Counter(self._settled.values())
        return self.stopped

    def judge(self, item: ProbeItem, text: str, finished: bool) -> str | None:
        """ "good", a garbage kind ("empty", "unparseable", "loop"), or None while undecided."""
        parsed = bool(text.strip()) and self.probes.score_item(item, text).parsed
        if parsed:
            return "good"
        if finished:
            return "empty" if not text.strip() else "unparseable"
        return "loop" if repeating(text) else None

    def summary(self) -> str:
        """What the watch saw, e.g. 'after 16 tokens the first 9 answers to settle were garbage (6 loop, 3 empty)'."""
        kinds = ", ".join(f"{n} {kind}" for kind, n in self.seen.most_common())
        n = sum(self.seen.values())
        return f"after {self.n_tokens} tokens the first {n} answers to settle were garbage ({kinds})"
