"""The ethical data layer: load, validate, consent, minimize, pseudonymize, split.

:func:`prepare` turns a config into a frozen :class:`Dataset` in this order,
each step on the output of the previous one:

1. load the CSV or Parquet file (:func:`load_table`);
2. validate it against the config, collecting every problem before raising
   one :class:`~governance.errors.DataValidationError` (:func:`validate`);
3. refuse declared features (and audit attributes) whose values look like
   personal data, whatever their names (:class:`~governance.errors.PrivacyError`);
4. apply the data-subject ledger (:mod:`governance.ledger`): erased accounts
   and accounts that withdrew consent are excluded first, counted by reason
   (``erased``, ``consent_withdrawn``), then corrections overlay the source
   values of the declared features and audit attributes
   (:func:`apply_corrections`);
5. exclude records without valid consent *before anything else uses them*,
   counted by reason (:func:`consent_mask`);
6. keep only declared columns (data minimization), listing every dropped
   column and why;
7. pseudonymize the identifier with keyed HMAC-SHA256 (computed once, before
   step 4, since the ledger knows accounts only by pseudonym); the raw
   identifier does not survive this function;
8. split train / validation / test, stratified by label and by the cross of
   the sensitive attributes; a record's side depends only on its identifier,
   its stratum and the split seed, never on row order;
9. fingerprint (sha256) the data actually used.

Sensitive attributes are kept apart from the model matrix: ``Dataset.X``
holds the declared features only, ``Dataset.sensitive`` the audit-only
attributes. Messages never contain cell values: they name columns, counts
and types.

Files
-----
``_prepare.py``
    :func:`prepare` and its steps, the frozen :class:`Dataset` and :class:`Split`, and the
    per-group counts of each side of the split (:func:`split_group_counts`).
``_contract.py``
    The data contract, steps 2, 3 and 5: :func:`validate`, the personal-data refusal, :func:`consent_mask`.
``_columns.py``
    A file's columns from its header or schema alone (:func:`read_columns`), and the config's
    columns checked against them (:func:`column_problems`), for ``governance config check``.
"""

from __future__ import annotations

from governance.data._columns import column_problems, read_columns
from governance.data._contract import consent_mask, validate
from governance.data._prepare import (
    Dataset,
    GroupCounts,
    Pseudonymization,
    ScopeCounts,
    Shortfall,
    Split,
    SplitCounts,
    apply_corrections,
    correctable_fields,
    load_table,
    prepare,
    split_group_counts,
)
from governance.errors import DevelopmentKeyWarning

__all__ = [
    "Dataset",
    "DevelopmentKeyWarning",
    "GroupCounts",
    "Pseudonymization",
    "ScopeCounts",
    "Shortfall",
    "Split",
    "SplitCounts",
    "apply_corrections",
    "column_problems",
    "consent_mask",
    "correctable_fields",
    "load_table",
    "prepare",
    "read_columns",
    "split_group_counts",
    "validate",
]
