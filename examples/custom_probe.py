"""Score a probe of your own with the project's batched runner.

    python examples/custom_probe.py MODEL.gguf

Any question with an integer answer can reuse the original partial-credit score.
"""

import sys

from rys_gguf import RuntimeOptions, open_model, partial_credit

QUESTIONS = {
    "How many legs do three spiders have in total?": 24,
    "What is 17 multiplied by 23?": 391,
    "How many minutes are there in a week?": 10080,
}

with open_model(sys.argv[1], RuntimeOptions(n_threads=2)) as model:
    prompts = [model.render("Answer with a single integer.", q) for q in QUESTIONS]
    answers = model.generate(prompts, [16] * len(prompts))
scores = [partial_credit(a, expected) for a, expected in zip(answers, QUESTIONS.values(), strict=True)]
for (question, expected), answer, score in zip(QUESTIONS.items(), answers, scores, strict=True):
    print(f"{score:.3f}  {question} (expected {expected}) -> {answer.strip()[:40]!r}")
print(f"mean score: {sum(scores) / len(scores):.3f}")
