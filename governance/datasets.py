"""Synthetic ABM accounts with a known, tunable bias: the ground truth for tests and the demo.

One row per B2B account. Everything is drawn with vectorized numpy from a
seeded generator, in chunks of ``CHUNK_ROWS`` rows whose streams are derived
from ``(seed, chunk index)``, so the same ``(rows, seed, bias)`` always gives
the same table, byte for byte, and memory stays bounded for any row count.

Generating process
------------------
Firmographics (independent of ownership):

* ``industry`` (9 values) and ``region`` (5) from fixed shares; ``country``
  from the region.
* ``employee_count`` = round(exp(N(3.2, 1.5))), clipped to [1, 400 000]:
  log-normal, median about 25, heavy right tail.
* ``annual_revenue`` (USD) = employees x exp(N(log 150 000 + industry effect, 0.5)),
  rounded to thousands: heavy-tailed as well.
* ``company_age_years`` = 1 + Gamma(2, 6) + 1.5 log1p(employees).
* ``size_band`` from ``employee_count``: micro < 10 <= small < 50 <= medium
  < 250 <= large < 1000 <= enterprise.

Sensitive attribute, drawn independently of everything above:
``ownership`` = none 70 %, minority_owned 13 %, women_owned 12 %, veteran_owned 5 %.

The proxy: ``hq_postcode_cluster`` (``PC-01`` .. ``PC-30``) depends on
ownership and on nothing else: 70 % of minority-owned accounts sit in clusters
01-06 (against 20 % of the others), women-owned accounts lean to 07-10. At any
bias it reveals ownership; it carries no legitimate signal.

Two latent traits drive engagement and conversion: interest ``z ~ N(0, 1)``
and fit ``f = industry effect + 0.25 log10(employees) + N(0, 0.8)``.

The bias mechanism (historical sales attention): each account has an
attention penalty ``p = bias x w[ownership]`` with w = minority_owned 1.0,
women_owned 0.6, veteran_owned 0.3, none 0. Neglected accounts are touched
less (``days_since_last_touch`` scale x exp(0.5 p), ``open_opportunities``
rate x exp(-0.5 p), ``email_opens_90d`` rate x exp(-0.3 p)) and convert less:

    logit P(converted_90d) = a0 + 1.1 z + 0.6 f + 0.25 log1p(prior_purchases) - 1.2 p

with ``a0 = -3.0``, which gives a conversion rate near 11 % at ``bias = 0``
(about 10 % at ``bias = 1``). So with ``bias = 0`` the label is independent
of ownership (and of the proxy) given the legitimate signals; with
``bias > 0`` the gap between ownership groups grows with ``bias``, and a model
can learn it through the proxy and the depressed engagement signals.

Engagement signals (all functions of ``z`` plus noise, hence correlated):
``web_visits_30d`` ~ Poisson(Gamma(2, e^(1.6 + 0.7 z) / 2)) (over-dispersed),
``content_downloads_90d`` ~ Poisson(e^(-0.6 + 0.8 z)),
``email_opens_90d`` ~ Poisson(e^(1.5 + 0.5 z - 0.3 p)),
``email_clicks_90d`` ~ Binomial(opens, sigmoid(-2.2 + 0.6 z)),
``intent_score`` = round(100 sigmoid(0.9 z + N(0, 0.7))),
``tech_fit_score`` = round(100 sigmoid(f)),
``prior_purchases`` ~ Poisson(e^(-1.3 + 0.2 log1p(employees) + 0.3 f)),
``open_opportunities`` ~ Poisson(0.25 e^(0.6 z - 0.5 p)),
``days_since_last_touch`` = min(365, round(Exp(30 e^(-0.4 z + 0.5 p)))).

Consent: ``consent_marketing`` is false for 3 % of accounts,
``consent_timestamp`` (UTC, 2022-01-01 to 2026-06-30) is missing for 1 %,
``lawful_basis`` is ``consent`` (78 %), ``legitimate_interest`` (21 %) or
``none`` (1 %); together about 5 % of records may not be used.

PII that must never be a feature or be logged: ``company_name`` (adjective +
noun + suffix), ``contact_email`` (first.last@company-domain),
``contact_phone`` (``+1 NPA 555 01XX``, the fictional range).

Identifiers: ``account_id`` is ``ACC-`` and an account number, zero-padded to
8 digits; seed ``s`` numbers its rows from ``s x ID_BLOCK + 1`` on (seed 0:
``ACC-00000001``, ``ACC-00000002``, ...; seed 42: ``ACC-42000000001``, ...). So
the same seed gives the same identifiers, and tables of different seeds (the
training data and the monitoring batches of the demo and the tests) share no
account, hence no pseudonym. A table holds fewer than ``ID_BLOCK`` rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from governance._files import atomic_path
from governance.errors import ConfigError, Problem

__all__ = [
    "CHUNK_ROWS",
    "COLUMNS",
    "OWNERSHIP",
    "generate_accounts",
    "iter_account_tables",
    "write_accounts",
]

CHUNK_ROWS = 1_000_000
#: Account numbers per seed: seed s numbers its accounts s x ID_BLOCK + 1, s x ID_BLOCK + 2, ...
ID_BLOCK = 1_000_000_000
#: The largest seed whose account numbers fit in 64 bits.
MAX_SEED = (2**63 - 1) // ID_BLOCK - 1

OWNERSHIP = ("none", "minority_owned", "women_owned", "veteran_owned")
_OWNERSHIP_P = np.array([0.70, 0.13, 0.12, 0.05])
_OWNERSHIP_W = np.array([0.0, 1.0, 0.6, 0.3])

_INDUSTRIES = (
    "software",
    "manufacturing",
    "financial_services",
    "healthcare",
    "retail",
    "professional_services",
    "logistics",
    "education",
    "energy",
)
_INDUSTRY_P = np.array([0.18, 0.16, 0.10, 0.11, 0.12, 0.14, 0.08, 0.05, 0.06])
_INDUSTRY_FIT = np.array([0.8, 0.2, 0.4, 0.1, -0.3, 0.3, -0.1, -0.5, 0.0])
_INDUSTRY_REVENUE = np.array([0.3, 0.1, 0.6, 0.0, -0.4, 0.0, -0.2, -0.6, 0.5])

_REGIONS = ("NA", "LATAM", "EMEA", "APAC", "ANZ")
_REGION_P = np.array([0.40, 0.08, 0.30, 0.16, 0.06])
_COUNTRIES = {
    "NA": (("US", "CA"), (0.88, 0.12)),
    "LATAM": (("MX", "BR", "AR", "CO", "CL"), (0.30, 0.35, 0.12, 0.13, 0.10)),
    "EMEA": (("GB", "DE", "FR", "NL", "ES", "SE", "AE", "ZA"), (0.24, 0.22, 0.16, 0.09, 0.09, 0.07, 0.07, 0.06)),
    "APAC": (("JP", "IN", "SG", "KR", "CN"), (0.26, 0.30, 0.16, 0.14, 0.14)),
    "ANZ": (("AU", "NZ"), (0.82, 0.18)),
}

_SIZE_EDGES = np.array([10, 50, 250, 1000])
_SIZE_BANDS = ("micro", "small", "medium", "large", "enterprise")

_CLUSTERS = tuple(f"PC-{i:02d}" for i in range(1, 31))
_A0 = -3.0

_ADJECTIVES = (
    "Blue", "Bright", "Cedar", "Clear", "Copper", "Crescent", "Delta", "Eagle", "Evergreen", "First",
    "Golden", "Granite", "Harbor", "Iron", "Lake", "Liberty", "Maple", "Meridian", "North", "Oak",
    "Pacific", "Pine", "Prairie", "Quantum", "Redwood", "River", "Silver", "Summit", "Sun", "Vertex",
)  # fmt: skip
_NOUNS = (
    "Analytics", "Bridge", "Capital", "Dynamics", "Energy", "Foods", "Freight", "Health", "Holdings", "Labs",
    "Logistics", "Machines", "Media", "Networks", "Partners", "Retail", "Robotics", "Software", "Systems", "Works",
)  # fmt: skip
_SUFFIXES = ("Inc", "LLC", "Ltd", "GmbH", "Group", "Co", "SA", "BV")
_FIRST = (
    "ana", "ben", "chen", "david", "elena", "fatima", "george", "hana", "ivan", "jamal", "kim", "lucia",
    "maria", "noah", "omar", "priya", "quinn", "rosa", "sam", "tariq", "uma", "victor", "wei", "yusuf",
)  # fmt: skip
_LAST = (
    "adams", "bauer", "costa", "diaz", "evans", "fischer", "garcia", "hughes", "ito", "jones", "khan", "lopez",
    "muller", "nguyen", "okafor", "patel", "rossi", "silva", "tanaka", "walker", "wang", "young", "zhang",
)  # fmt: skip

#: Column order of the generated table.
COLUMNS: tuple[str, ...] = (
    "account_id",
    "company_name",
    "contact_email",
    "contact_phone",
    "industry",
    "region",
    "country",
    "employee_count",
    "annual_revenue",
    "company_age_years",
    "web_visits_30d",
    "content_downloads_90d",
    "email_opens_90d",
    "email_clicks_90d",
    "intent_score",
    "tech_fit_score",
    "prior_purchases",
    "open_opportunities",
    "days_since_last_touch",
    "hq_postcode_cluster",
    "ownership",
    "size_band",
    "consent_marketing",
    "consent_timestamp",
    "lawful_basis",
    "converted_90d",
)

_CONSENT_START = np.datetime64("2022-01-01T00:00:00", "s").astype(np.int64)
_CONSENT_END = np.datetime64("2026-06-30T00:00:00", "s").astype(np.int64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


def _take(values: tuple[str, ...], index: np.ndarray) -> pa.Array:
    """Look strings up by index in a dictionary, done in Arrow (no Python objects per row)."""
    return pc.take(pa.array(values, pa.string()), pa.array(index))


def _company_strings(rng: np.random.Generator, n: int) -> tuple[pa.Array, pa.Array, pa.Array]:
    adj = rng.integers(0, len(_ADJECTIVES), n)
    noun = rng.integers(0, len(_NOUNS), n)
    suffix = rng.integers(0, len(_SUFFIXES), n)
    name = pc.binary_join_element_wise(_take(_ADJECTIVES, adj), _take(_NOUNS, noun), _take(_SUFFIXES, suffix), " ")
    domain_part = pc.utf8_lower(pc.binary_join_element_wise(_take(_ADJECTIVES, adj), _take(_NOUNS, noun), ""))
    domain = pc.binary_join_element_wise(domain_part, "com", ".")
    local = pc.binary_join_element_wise(
        _take(_FIRST, rng.integers(0, len(_FIRST), n)), _take(_LAST, rng.integers(0, len(_LAST), n)), "."
    )
    email = pc.binary_join_element_wise(local, domain, "@")
    area = pa.array(rng.integers(201, 990, n)).cast(pa.string())
    line = pc.utf8_lpad(pa.array(rng.integers(100, 200, n)).cast(pa.string()), 4, "0")
    phone = pc.binary_join_element_wise("+1", area, "555", line, " ")
    return name, email, phone


def _chunk(start: int, n: int, rng: np.random.Generator, bias: float, seed: int) -> pa.Table:
    """Generate rows ``start .. start + n`` of the seed's table with their own generator."""
    industry = rng.choice(len(_INDUSTRIES), n, p=_INDUSTRY_P)
    region = rng.choice(len(_REGIONS), n, p=_REGION_P)
    country = np.empty(n, dtype=object)
    for r, code in enumerate(_REGIONS):
        mask = region == r
        names, shares = _COUNTRIES[code]
        country[mask] = np.asarray(names, dtype=object)[rng.choice(len(names), int(mask.sum()), p=np.asarray(shares))]

    employees = np.clip(np.rint(np.exp(rng.normal(3.2, 1.5, n))), 1, 400_000).astype(np.int64)
    log_emp = np.log1p(employees)
    revenue = np.rint(employees * np.exp(rng.normal(np.log(150_000) + _INDUSTRY_REVENUE[industry], 0.5)) / 1000) * 1000
    age = np.round(1.0 + rng.gamma(2.0, 6.0, n) + 1.5 * log_emp, 1)
    size_band = np.searchsorted(_SIZE_EDGES, employees, side="right")

    ownership = rng.choice(len(OWNERSHIP), n, p=_OWNERSHIP_P)
    penalty = bias * _OWNERSHIP_W[ownership]

    # the proxy: cluster depends on ownership only
    in_low = rng.random(n) < np.where(ownership == 1, 0.70, 0.20)
    low = rng.integers(0, 6, n)
    high = rng.integers(6, 30, n)
    women_lean = (ownership == 2) & (rng.random(n) < 0.35)
    cluster = np.where(in_low, low, np.where(women_lean, rng.integers(6, 10, n), high))

    z = rng.normal(0.0, 1.0, n)
    fit = _INDUSTRY_FIT[industry] + 0.25 * np.log10(employees) + rng.normal(0.0, 0.8, n)

    web = rng.poisson(rng.gamma(2.0, np.exp(1.6 + 0.7 * z) / 2.0))
    downloads = rng.poisson(np.exp(-0.6 + 0.8 * z))
    opens = rng.poisson(np.exp(1.5 + 0.5 * z - 0.3 * penalty))
    clicks = rng.binomial(opens, _sigmoid(-2.2 + 0.6 * z))
    intent = np.rint(100 * _sigmoid(0.9 * z + rng.normal(0.0, 0.7, n)))
    tech_fit = np.rint(100 * _sigmoid(fit))
    prior = rng.poisson(np.exp(-1.3 + 0.2 * log_emp + 0.3 * fit))
    opportunities = rng.poisson(0.25 * np.exp(0.6 * z - 0.5 * penalty))
    days = np.minimum(365, np.rint(rng.exponential(30.0 * np.exp(-0.4 * z + 0.5 * penalty))))

    logit = _A0 + 1.1 * z + 0.6 * fit + 0.25 * np.log1p(prior) - 1.2 * penalty
    converted = (rng.random(n) < _sigmoid(logit)).astype(np.int8)

    consent = rng.random(n) >= 0.03
    stamp = rng.integers(_CONSENT_START, _CONSENT_END, n)
    stamp_missing = rng.random(n) < 0.01
    basis = rng.choice(3, n, p=[0.78, 0.21, 0.01])

    ids = pa.array(seed * ID_BLOCK + np.arange(start + 1, start + n + 1, dtype=np.int64)).cast(pa.string())
    account_id = pc.binary_join_element_wise("ACC", pc.utf8_lpad(ids, 8, "0"), "-")
    name, email, phone = _company_strings(rng, n)

    columns: dict[str, pa.Array] = {
        "account_id": account_id,
        "company_name": name,
        "contact_email": email,
        "contact_phone": phone,
        "industry": _take(_INDUSTRIES, industry),
        "region": _take(_REGIONS, region),
        "country": pa.array(country, pa.string()),
        "employee_count": pa.array(employees),
        "annual_revenue": pa.array(revenue),
        "company_age_years": pa.array(age),
        "web_visits_30d": pa.array(web.astype(np.int64)),
        "content_downloads_90d": pa.array(downloads.astype(np.int64)),
        "email_opens_90d": pa.array(opens.astype(np.int64)),
        "email_clicks_90d": pa.array(clicks.astype(np.int64)),
        "intent_score": pa.array(intent.astype(np.int64)),
        "tech_fit_score": pa.array(tech_fit.astype(np.int64)),
        "prior_purchases": pa.array(prior.astype(np.int64)),
        "open_opportunities": pa.array(opportunities.astype(np.int64)),
        "days_since_last_touch": pa.array(days.astype(np.int64)),
        "hq_postcode_cluster": _take(_CLUSTERS, cluster),
        "ownership": _take(OWNERSHIP, ownership),
        "size_band": _take(_SIZE_BANDS, size_band),
        "consent_marketing": pa.array(consent),
        "consent_timestamp": pa.array(stamp, pa.timestamp("s", tz="UTC"), mask=stamp_missing),
        "lawful_basis": _take(("consent", "legitimate_interest", "none"), basis),
        "converted_90d": pa.array(converted),
    }
    return pa.table(columns)


def _check_args(rows: int, seed: int, bias: float) -> None:
    if isinstance(rows, bool) or not isinstance(rows, int | np.integer) or rows <= 0:
        raise ValueError(f"rows: expected a positive integer, found {rows!r}")
    if rows >= ID_BLOCK:  # a config error (a ValueError too): bad input, exit 2
        raise ConfigError(
            [Problem("rows", f"expected fewer than {ID_BLOCK:,} (one seed's block of identifiers), found {rows:,}")]
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, found {seed!r}")
    if seed > MAX_SEED:
        raise ConfigError(
            [Problem("seed", f"expected at most {MAX_SEED:,} (identifiers are 64-bit account numbers), found {seed}")]
        )
    if not np.isfinite(bias) or bias < 0:
        raise ValueError(f"bias: expected a finite number >= 0, found {bias!r}")


def iter_account_tables(rows: int, *, seed: int = 0, bias: float = 0.0) -> Iterator[pa.Table]:
    """Yield the accounts as Arrow tables of at most ``CHUNK_ROWS`` rows.

    Chunk ``k`` draws from ``SeedSequence(seed, spawn_key=(k,))``, so the
    output depends only on ``(rows, seed, bias)``.

    Parameters
    ----------
    rows
        Accounts in all.
    seed
        Seed of the generator.
    bias
        Strength of the planted bias (0: none).

    Returns
    -------
    Iterator of pyarrow.Table
        The chunks, in order.
    """
    _check_args(rows, seed, bias)
    for k, start in enumerate(range(0, rows, CHUNK_ROWS)):
        rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(k,)))
        yield _chunk(start, min(CHUNK_ROWS, rows - start), rng, float(bias), int(seed))


def generate_accounts(rows: int, *, seed: int = 0, bias: float = 0.0) -> pd.DataFrame:
    """Generate synthetic ABM accounts in memory.

    Parameters
    ----------
    rows
        Number of accounts.
    seed
        Seed of every random draw; the same seed gives the same table.
    bias
        Strength of the historical attention bias against some ownership
        groups (0 = none; 1 = strong). See the module docstring.

    Returns
    -------
    pandas.DataFrame
        One row per account, columns :data:`COLUMNS`.
    """
    table = pa.concat_tables(list(iter_account_tables(rows, seed=seed, bias=bias)))
    frame: pd.DataFrame = table.to_pandas()
    return frame


def write_accounts(
    path: str | os.PathLike[str],
    *,
    rows: int,
    seed: int = 0,
    bias: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Generate accounts straight to a CSV or Parquet file (by suffix), chunk by chunk.

    The file is written under a temporary name and renamed when complete, so
    a failure never leaves a half-written file behind.

    Parameters
    ----------
    path
        Target file; ``.csv`` or ``.parquet``.
    rows, seed, bias
        As in :func:`generate_accounts`.
    progress
        Called with ``(rows_done, rows_total)`` after each chunk.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ValueError(f"out: expected a file ending in .csv or .parquet, found {target.name!r}")
    _check_args(rows, seed, bias)
    done = 0
    with atomic_path(target) as tmp:
        writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
        try:
            for table in iter_account_tables(rows, seed=seed, bias=bias):
                if writer is None:
                    if suffix == ".parquet":
                        writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                    else:
                        writer = pacsv.CSVWriter(tmp, table.schema)
                writer.write_table(table)
                done += table.num_rows
                if progress is not None:
                    progress(done, rows)
        finally:
            if writer is not None:
                writer.close()
    return target
