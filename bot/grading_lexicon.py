"""Direction words for the offline grader, and their opposites.

Written by hand for the vocabulary of ML interview answers; small on purpose (no download, no model).

- `SAME`: the words (as written; the grader stems them) that say one direction: "smaller", "lower",
  "reduces" and "shrinks" all say less.
- `OPPOSITES`: pairs of those groups that say opposite things about the same subject (more/less,
  before/after, overfit/underfit, separately/jointly, deterministic/stochastic...). An answer that says a key
  point's words with a direction word from the opposite group ("raises bias" for "lowers bias") has reversed
  the relation.
"""

from __future__ import annotations

SAME: dict[str, tuple[str, ...]] = {
    "more": ("more", "high", "higher", "highest", "increase", "increases", "increased", "increasing",
             "raise", "raises", "raised", "raising", "rise", "rises", "grow", "grows", "grew", "growing", "growth",
             "large", "larger", "largest", "big", "bigger", "biggest", "greater", "greatest", "huge", "boost",
             "boosts", "expand", "expands", "amplify", "amplifies", "heavier"),
    "less": ("less", "least", "low", "lower", "lowest", "lowers", "lowered", "lowering",
             "decrease", "decreases", "decreased", "decreasing", "reduce", "reduces", "reduced", "reducing",
             "reduction", "shrink", "shrinks", "shrank", "shrinking", "small", "smaller", "smallest", "tiny",
             "little", "cut", "cuts", "cutting", "diminish", "diminishes", "decline", "declines", "lighter",
             "lessen"),
    "overfit": ("overfit", "overfits", "overfitting", "overfitted", "memorize", "memorizes", "memorise"),
    "underfit": ("underfit", "underfits", "underfitting", "underfitted"),
    "separately": ("separately", "separate", "individually", "independently", "isolation"),
    "jointly": ("jointly", "joint", "together", "simultaneously", "concatenated", "concatenate"),
    "before": ("before", "prior", "precede", "precedes", "preceding", "beforehand"),
    "after": ("after", "afterwards", "afterward", "subsequent", "subsequently"),
    "forward": ("forward", "forwards", "onward"),
    "backward": ("backward", "backwards", "reverse", "reversed", "back"),
    "first": ("first", "early", "earlier", "earliest", "initial", "initially", "beginning", "start", "starts"),
    "last": ("last", "final", "finally", "late", "later", "latest"),
    "top": ("top", "upper", "topmost"),
    "bottom": ("bottom", "bottommost"),
    "input": ("input", "inputs"),
    "output": ("output", "outputs"),
    "deterministic": ("deterministic", "deterministically"),
    "stochastic": ("stochastic", "stochastically", "random", "randomly", "randomness", "noisy"),
    "absolute": ("absolute",),
    "relative": ("relative",),
    "linear": ("linear", "linearly"),
    "nonlinear": ("nonlinear", "nonlinearity", "nonlinearities"),
    "sparse": ("sparse", "sparsity"),
    "dense": ("dense", "densely"),
    "fast": ("fast", "faster", "fastest", "quick", "quicker", "quickly", "speed", "speeds", "speedup"),
    "slow": ("slow", "slower", "slowest", "slowly", "slows"),
    "simple": ("simple", "simpler", "simplest", "simplistic", "oversimplified", "rigid"),
    "complex": ("complex", "complicated", "flexible", "flexibility", "expressive"),
    "same": ("same", "identical", "equal", "equally", "uniform", "uniformly", "constant"),
    "different": ("different", "differ", "differs", "distinct", "varies", "vary", "varying", "unequal"),
    "positive": ("positive", "positives"),
    "negative": ("negative", "negatives"),
    "minimum": ("minimum", "min", "minimize", "minimizes", "minimise", "minimal", "minima"),
    "maximum": ("maximum", "max", "maximize", "maximizes", "maximise", "maximal", "maxima"),
    "supervised": ("supervised",),
    "unsupervised": ("unsupervised", "unlabeled", "unlabelled"),
    "parallel": ("parallel", "parallelizable", "parallelize"),
    "sequential": ("sequential", "sequentially", "serial", "serially", "recurrent"),
    "local": ("local", "locally"),
    "global": ("global", "globally"),
    "vanish": ("vanish", "vanishes", "vanishing"),
    "explode": ("explode", "explodes", "exploding", "explosion", "blow"),
    "generative": ("generative",),
    "discriminative": ("discriminative",),
    "continuous": ("continuous",),
    "discrete": ("discrete",),
    "better": ("better", "improve", "improves", "improved", "improving", "helps"),
    "worse": ("worse", "hurt", "hurts", "degrade", "degrades", "harms"),
    "easy": ("easy", "easier", "easily"),
    "hard": ("hard", "harder", "difficult"),
    "cheap": ("cheap", "cheaper", "inexpensive", "efficient"),
    "expensive": ("expensive", "costly", "pricey"),
    "strong": ("strong", "stronger"),
    "weak": ("weak", "weaker"),
    "long": ("long", "longer", "longest"),
    "short": ("short", "shorter", "shortest"),
    "row": ("row", "rows"),
    "column": ("column", "columns"),
    "upsample": ("upsample", "upsampling", "upsamples"),
    "downsample": ("downsample", "downsampling", "downsamples"),
    "fixed": ("static", "frozen", "freeze"),
    "dynamic": ("dynamic", "dynamically", "adaptive"),
    "overestimate": ("overestimate", "overestimates"),
    "underestimate": ("underestimate", "underestimates"),
    "convex": ("convex",),
    "nonconvex": ("nonconvex", "concave"),
}

OPPOSITES: tuple[tuple[str, str], ...] = (
    ("more", "less"), ("overfit", "underfit"), ("separately", "jointly"), ("before", "after"),
    ("forward", "backward"), ("first", "last"), ("top", "bottom"), ("input", "output"),
    ("deterministic", "stochastic"), ("absolute", "relative"), ("linear", "nonlinear"), ("sparse", "dense"),
    ("fast", "slow"), ("simple", "complex"), ("same", "different"), ("positive", "negative"),
    ("minimum", "maximum"), ("supervised", "unsupervised"), ("parallel", "sequential"), ("local", "global"),
    ("vanish", "explode"), ("generative", "discriminative"), ("continuous", "discrete"), ("better", "worse"),
    ("easy", "hard"), ("cheap", "expensive"), ("strong", "weak"), ("long", "short"), ("row", "column"),
    ("upsample", "downsample"), ("fixed", "dynamic"), ("overestimate", "underestimate"),
    ("convex", "nonconvex"), ("more", "minimum"), ("less", "maximum"),
)

# Stems that words of another sense share ("position" stems like "positive", "related" like "relative"):
# they carry no direction.
SHARED_STEMS = frozenset({"posit", "negat", "relat", "continu", "initi", "express", "differ", "start", "end"})

# Written as one word, read as "not" + word.
NEGATED_WORDS: dict[str, str] = {"nonzero": "zero", "unordered": "ordered", "unbiased": "biased",
                                 "uncorrelated": "correlated", "nondeterministic": "deterministic"}

# Informal short forms, read as the words they stand for (in answers and references alike).
SHORT_FORMS: dict[str, str] = {
    "nn": "neural network", "nns": "neural networks", "net": "network", "nets": "networks",
    "dist": "distribution", "distr": "distribution", "distrib": "distribution", "param": "parameter",
    "params": "parameters", "prob": "probability", "probs": "probabilities", "approx": "approximately",
    "info": "information", "img": "image", "imgs": "images", "bc": "because", "diff": "difference",
    "dim": "dimension", "dims": "dimensions", "feat": "feature", "feats": "features", "grad": "gradient",
    "grads": "gradients", "lr": "learning rate", "avg": "average", "std": "standard deviation",
    "seq": "sequence", "seqs": "sequences", "vocab": "vocabulary", "emb": "embedding", "embs": "embeddings",
    "attn": "attention", "calc": "calculate", "obs": "observations", "eval": "evaluation", "perf": "performance",
    "acc": "accuracy", "hyperparam": "hyperparameter", "hyperparams": "hyperparameters", "w/o": "without",
    "w/": "with", "b/c": "because", "np": "numpy", "pd": "pandas", "iid": "independent identically distributed",
}
