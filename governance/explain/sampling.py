"""The stratified sample of accounts to explain, and the explainers' background accounts.

Sample (:func:`stratified_sample`)
    The test split (the audited accounts, none of which trained the model),
    sampled per sensitive attribute: a simple random sample of
    ``explain.sample_per_group`` accounts of each group (all of a smaller
    group). The draws are coordinated (each account has one seeded random
    number, shared by every attribute, and each group takes its accounts with
    the smallest numbers), so they overlap and the union to explain is about a
    fifth smaller than independent draws. A group's figures come from its
    own sample; overall figures are the stratified estimate over the first
    attribute's groups (each group's sample weighted by its share of the
    split). Intervals are percentile bootstrap intervals over the sampled accounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from governance.data import Dataset

__all__ = ["Sample", "stratified_sample"]

# ---------------------------------------------------------------- the stratified sample


@dataclass(frozen=True)
class Sample:
    """Simple random samples of each group of each sensitive attribute, drawn coordinated, and their union.

    Attributes
    ----------
    rows
        Positions of the drawn accounts in the frame, ascending (the union: each is explained once).
    strata
        For each attribute and group, the positions *within* ``rows`` of that group's simple
        random sample of ``min(per_group, group size)`` accounts.
    sizes
        Accounts in each group's sample.
    population
        Accounts in the frame per attribute and group.
    per_group, seed
        How it was drawn.
    """

    rows: np.ndarray = field(compare=False)
    strata: Mapping[str, Mapping[str, np.ndarray]] = field(compare=False)
    sizes: Mapping[str, Mapping[str, int]]
    population: Mapping[str, Mapping[str, int]]
    per_group: int
    seed: int

    def __len__(self) -> int:
        """Return the number of sampled accounts."""
        return len(self.rows)

    def members(self, attribute: str, group: str) -> np.ndarray:
        """Positions within ``rows`` of the simple random sample of one group."""
        return self.strata[attribute][group]

    def overall(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions and weights of the stratified estimator over the whole frame (first attribute's strata).

        Each group's sample stands for its share of the frame: weight = group size / sample size.
        """
        attribute = next(iter(self.strata))
        positions, weights = [], []
        for group, members in self.strata[attribute].items():
            if len(members):
                positions.append(members)
                weights.append(np.full(len(members), self.population[attribute][group] / len(members)))
        if not positions:
            return np.empty(0, dtype=np.int64), np.empty(0)
        return np.concatenate(positions), np.concatenate(weights)


def stratified_sample(sensitive: pd.DataFrame, *, per_group: int, seed: int) -> Sample:
    """Draw ``per_group`` accounts of every group of every sensitive attribute (all of a smaller group).

    Each group's draw is a simple random sample without replacement: the
    ``per_group`` accounts of the group with the smallest seeded random numbers.
    Every account has one random number, shared by all attributes (coordinated
    sampling), so the draws of different attributes overlap as much as they
    can: an account drawn for its ownership group is also the likeliest to be
    drawn for its size band, and the union to explain is smaller. The sample is
    bounded by ``per_group`` times the number of groups, whatever the number of
    accounts.

    Parameters
    ----------
    sensitive
        The audit attributes of the accounts to sample from, one column each.
    per_group
        Accounts to draw from each group.
    seed
        Seed of the draws; the same frame and seed give the same sample.

    Returns
    -------
    Sample
        The union of the draws, and each group's draw within it.
    """
    if per_group < 1:
        raise ValueError(f"per_group: expected a positive number of accounts, found {per_group}")
    n = len(sensitive)
    order = np.random.default_rng([seed, 2654435761]).random(n)
    chosen: dict[str, dict[str, np.ndarray]] = {}
    population: dict[str, Mapping[str, int]] = {}
    for name in sensitive.columns:
        codes, groups = pd.factorize(sensitive[name].astype(str), sort=True)
        chosen[str(name)] = {}
        counts = np.bincount(codes, minlength=len(groups))
        population[str(name)] = MappingProxyType({str(g): int(c) for g, c in zip(groups, counts, strict=True)})
        by_group = np.argsort(codes, kind="stable")
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        for group, start, count in zip(groups, starts, counts, strict=True):
            members = by_group[start : start + count]
            if count > per_group:
                members = members[np.argpartition(order[members], per_group - 1)[:per_group]]
            chosen[str(name)][str(group)] = np.sort(members)
    union = np.unique(np.concatenate([m for groups in chosen.values() for m in groups.values()] or [np.empty(0, int)]))
    strata = {
        name: MappingProxyType({g: np.searchsorted(union, m) for g, m in groups.items()})
        for name, groups in chosen.items()
    }
    sizes = {name: MappingProxyType({g: len(m) for g, m in groups.items()}) for name, groups in chosen.items()}
    return Sample(
        rows=union.astype(np.int64),
        strata=MappingProxyType(strata),
        sizes=MappingProxyType(sizes),
        population=MappingProxyType(population),
        per_group=per_group,
        seed=seed,
    )


def _background(dataset: Dataset, *, size: int, seed: int) -> pd.DataFrame:
    """Return a seeded uniform sample of training accounts: the reference of the explainers."""
    train = dataset.train
    rng = np.random.default_rng([seed, 7919])
    take = min(size, len(train))
    rows = np.sort(rng.choice(len(train), size=take, replace=False))
    return train.X.iloc[rows].reset_index(drop=True)
