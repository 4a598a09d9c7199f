"""Is a variant's accuracy different from standard dropout's? Welch's t-test of the difference
of two means over seeds, per cell, and the same test of the mean difference over ratios.

Per cell, with a standard cell of n_s seeds (mean m_s, sample variance s_s^2, ddof 1) and a
variant cell of n_v seeds (m_v, s_v^2):

    d  = m_v - m_s
    SE = sqrt(s_s^2/n_s + s_v^2/n_v)
    t  = d / SE
    df = (s_s^2/n_s + s_v^2/n_v)^2 / ((s_s^2/n_s)^2/(n_s-1) + (s_v^2/n_v)^2/(n_v-1))
    p  = 2 P(T_df > |t|),     95% CI: d +- t_{0.975, df} SE

(Welch's t-test, scipy.stats.ttest_ind(equal_var=False), with its Welch-Satterthwaite df.)

Pooled over k such comparisons (ratios), each of its own runs:

    D     = (d_1 + ... + d_k) / k
    SE(D) = sqrt(SE_1^2 + ... + SE_k^2) / k
    t     = D / SE(D)
    df    = (sum_j v_j)^2 / sum_j v_j^2/(n_j-1)   over all 2k cells j, v_j = s_j^2/n_j

the Welch-Satterthwaite approximation applied to the variance of D, a sum of 2k independent
cell means' variances.
"""
import math
from dataclasses import dataclass

from scipy.stats import t as student_t

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Difference:
    """A difference of means and its Welch test. parts: ((s^2/n, n) of each cell that enters),
    from which a pooled test is built. t, df, p are nan where no cell has any spread."""
    diff: float
    se: float
    t: float
    df: float
    p: float
    ci: tuple
    parts: tuple


def sample_variance(values):
    n = len(values)
    mean = sum(values) / n
    return sum((v - mean) ** 2 for v in values) / (n - 1)


def _test(diff, parts, scale=1.0):
    """Welch-type test of `diff`, whose variance is scale^2 * sum of the parts' s^2/n."""
    total = sum(v for v, _ in parts)
    se = scale * math.sqrt(total)
    if total == 0:  # every seed of every cell equal: nothing to test against
        nan = float("nan")
        return Difference(diff, se, nan, nan, nan, (nan, nan), tuple(parts))
    df = total ** 2 / sum(v ** 2 / (n - 1) for v, n in parts)
    t = diff / se
    p = 2 * student_t.sf(abs(t), df)
    half = student_t.ppf(0.5 + CONFIDENCE / 2, df) * se
    return Difference(diff, se, t, df, p, (diff - half, diff + half), tuple(parts))


def welch(standard, variant):
    """Variant minus standard, from each cell's accuracies over seeds; None (no test) unless
    both cells have at least 2 seeds."""
    if len(standard) < 2 or len(variant) < 2:
        return None
    diff = sum(variant) / len(variant) - sum(standard) / len(standard)
    parts = [(sample_variance(x) / len(x), len(x)) for x in (standard, variant)]
    return _test(diff, parts)


def pooled(differences):
    """The mean of k per-cell Differences, tested as the module docstring says; None if k = 0."""
    k = len(differences)
    if not k:
        return None
    diff = sum(d.diff for d in differences) / k
    return _test(diff, [part for d in differences for part in d.parts], scale=1 / k)
