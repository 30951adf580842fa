"""Exporting the champion to ``output.models``: what a deployment picks up is always the registry's champion.

Whenever the ``champion`` alias may have moved (``governance run`` promoted, ``governance promote``,
``governance review``, ``governance monitor --demote``), :func:`sync_champion` makes
``<output.models>/<registered model>/champion/`` hold the version the alias names, or removes it
when no version does. The folder holds::

    model/        the MLflow model folder (MLmodel, model.skops, ...): byte for byte the files whose
                  sha256 the registry recorded when they were logged (run tag model.sha256), re-hashed
                  here after download; load it with mlflow.pyfunc.load_model(".../champion/model")
    card.json     the version's current card as the registry holds it (its sha256 is tag card.sha256)
    card.html     that card, rendered
    manifest.json registered model, version, run id, candidate, card and model sha256, exported at
    SHA256SUMS    sha256 of every other file, in ``sha256sum -c`` format (run it inside the folder)

Atomicity: ``champion`` is a symbolic link to a hidden sibling folder
(``.champion-v<version>-<token>``). A new export is built in a new hidden folder and the link is
replaced by a rename, which is atomic: a reader sees the old export or the new one, never half of
one, and a crash leaves the old export in place. Removing an export removes the link (one
operation) before its folder. Folders left by a crash are removed by the next export. Exports of
one registered model are serialized by a lock on its folder, and each reads the alias once it holds
the lock, so the last export to run exports the last champion. A cancelled command exports nothing;
it only removes an export that no longer names the champion it found.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance import _cancel
from governance._files import atomic_write, canonical_json, check_output, visible
from governance.errors import GovernanceError, PrivacyError, RegistryError

if TYPE_CHECKING:
    from governance.config import GovernanceConfig
    from governance.registry import Registry, VerifiedCard

__all__ = [
    "EXPORT_SCHEMA",
    "ExportOutcome",
    "check_export_target",
    "export_folder",
    "sync_champion",
    "synced_on_failure",
]

#: The schema of ``manifest.json``.
EXPORT_SCHEMA = "governance.export/1"
#: The checksum file, in ``sha256sum -c`` format.
CHECKSUMS = "SHA256SUMS"
_LINK = "champion"
_ALIAS = "champion"
_PREFIX = ".champion-"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class ExportOutcome:
    """What :func:`sync_champion` did.

    Attributes
    ----------
    path
        The export (``<output.models>/<registered model>/champion``).
    version
        The version exported, or None when no version is champion (and no export is left).
    changed
        Whether the folder changed (written, replaced or removed).
    """

    path: Path
    version: int | None
    changed: bool

    def describe(self) -> str:
        """Say in one line what the export holds now."""
        if self.version is None:
            return f"no champion: {'removed the export' if self.changed else 'no export'} at {visible(str(self.path))}"
        if self.changed:
            return f"exported version {self.version} to {visible(str(self.path))}"
        return f"export up to date: version {self.version} at {visible(str(self.path))}"


def export_folder(config: GovernanceConfig) -> Path:
    """Return the export's path: ``<output.models>/<registered model>/champion``.

    Parameters
    ----------
    config
        The validated config.

    Returns
    -------
    pathlib.Path
        The path (a link to the exported folder once something is exported).
    """
    name = _UNSAFE.sub("_", config.mlflow.registered_model).lstrip(".") or "model"
    return config.output.models / name / _LINK


def check_export_target(config: GovernanceConfig) -> None:
    """Refuse, before any work, an ``output.models`` the champion could not be exported to (exit 2).

    Parameters
    ----------
    config
        The validated config.

    Raises
    ------
    ConfigError
        A file where ``output.models`` or its registered model's folder should be (exit 2).
    """
    check_output(config.output.models, where="output.models", folder=True)
    check_output(export_folder(config).parent, where="output.models", folder=True)


def sync_champion(config: GovernanceConfig, registry: Registry | None = None) -> ExportOutcome:
    """Make the export hold the registry's current champion, or remove it when no version is champion.

    The champion is verified as every use of the alias verifies it (card and tags as audited, run
    kept, gate passed, neither demoted nor rejected), its model files are downloaded and re-hashed
    against the checksum recorded when they were logged, its card is re-hashed against its tag.
    An export already holding that version and card is left as it is.

    Parameters
    ----------
    config
        The validated config (``output.models``, ``output.reports``, the registry).
    registry
        The registry client, when the caller holds one.

    Returns
    -------
    ExportOutcome

    Raises
    ------
    PrivacyError
        (exit 4) The champion fails verification, or its files or card do not match their
        checksums; any export is removed first.
    RegistryError
        (exit 3) The registry cannot be read, or the export cannot be written (the alias has
        moved already; the message says how to export again).
    governance._cancel.Cancelled
        The command was cancelled: nothing is exported.
    """
    from governance.registry import Registry

    registry = registry or Registry.for_config(config)
    target = export_folder(config)
    _refuse_late_problem(config, registry, target)
    if not target.parent.exists() and _champion_version(registry) is None:
        return ExportOutcome(target, None, False)  # never exported, nothing to export: no folder is made
    with _storage(target, None), _locked(target.parent):
        version = _champion_version(registry)
        current = _manifest(target)
        if _cancel.requested():
            _withdraw_unless(target, current, version)
            _cancel.check()
        if version is None:
            changed = _withdraw(target)
            _sweep(target)
            return ExportOutcome(target, None, changed)
        try:
            verified = _verified(registry, version)
        except PrivacyError:
            _withdraw(target)
            raise
        if current is not None and _same(current, verified):
            _sweep(target)
            return ExportOutcome(target, version, False)
        with _storage(target, version):
            _build_and_swap(config, registry, verified, target)
    return ExportOutcome(target, version, True)


@contextmanager
def synced_on_failure(config: GovernanceConfig) -> Iterator[None]:
    """Re-sync the export when the block fails: a refused promotion or review may have demoted the champion.

    The block's own error is what the command reports; a failure of the re-sync is left to the
    next command that moves the alias (a cancel re-syncs nothing, nor does a store that could not
    be reached).

    Parameters
    ----------
    config
        The validated config.

    Yields
    ------
    None
        The block (a promotion, a review).
    """
    try:
        yield
    except RegistryError:
        raise  # the store could not be reached: asking it again would only spend more of the command's budget
    except GovernanceError:
        with suppress(GovernanceError):
            sync_champion(config)
        raise


def _refuse_late_problem(config: GovernanceConfig, registry: Registry, target: Path) -> None:
    """Refuse an export folder that became unusable after the command checked it (exit 3: the alias moved)."""
    from governance._files import output_problem

    problem = output_problem(config.output.models, where="output.models", folder=True) or output_problem(
        target.parent, where="output.models", folder=True
    )
    if problem is None:
        return
    version = _champion_version(registry)
    again = (
        f"export it again with governance promote --model-version {version} (version {version} is champion)"
        if version is not None
        else "no version is champion, so nothing is to be exported"
    )
    raise RegistryError(
        f"cannot export the champion to {visible(str(target))}: output.models {problem.message}; "
        f"{problem.fix}, then {again}"
    )


@contextmanager
def _storage(target: Path, version: int | None) -> Iterator[None]:
    """Turn a storage failure into RegistryError (exit 3) naming the export, the champion and the fix."""
    try:
        yield
    except GovernanceError:
        raise  # a refusal (PrivacyError is also a PermissionError) is reported as itself
    except OSError as exc:
        moved = (
            f"version {version} is champion in the registry; "
            f"export it again with governance promote --model-version {version} once fixed"
            if version is not None
            else "run the command again once fixed: every promotion exports the champion"
        )
        raise RegistryError(
            f"cannot export the champion to {visible(str(target))}: {type(exc).__name__} "
            f"({exc.strerror or 'storage error'}); free space or make output.models writable ({moved})"
        ) from exc


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on the registered model's export folder (no lock file: the folder itself)."""
    folder.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":  # pragma: no cover - folders cannot be locked there; runs hold the store lock
        yield
        return
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _champion_version(registry: Registry) -> int | None:
    """Return the version the ``champion`` alias names, or None (no alias, or no registered model yet)."""
    with registry.call("read the champion alias"):
        try:
            aliases = registry.client.get_registered_model(registry.name).aliases
        except Exception as exc:
            if str(getattr(exc, "error_code", "")) == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        found = aliases.get(_ALIAS)
    return None if found is None else int(found)


def _verified(registry: Registry, version: int) -> VerifiedCard:
    """Return the champion's verified card, after the alias itself is verified (as every use of it is)."""
    from governance.registry.resolve import verify_alias

    with registry.call("verify the champion"):
        verify_alias(registry, _ALIAS, version)
    return registry.verified_card(version)


def _manifest(target: Path) -> dict[str, Any] | None:
    """Return the current export's manifest, or None when there is none (or it cannot be read)."""
    try:
        found = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _same(manifest: dict[str, Any], verified: VerifiedCard) -> bool:
    """Whether an export's manifest names this version, run and card."""
    return (
        manifest.get("version") == verified.version
        and manifest.get("run_id") == verified.run_id
        and manifest.get("card_sha256") == verified.card_sha256
    )


def _withdraw_unless(target: Path, current: dict[str, Any] | None, version: int | None) -> None:
    """Remove an export that does not name ``version`` (the champion found); keep one that does."""
    if current is None or current.get("version") != version:
        _withdraw(target)


def _withdraw(target: Path) -> bool:
    """Remove the export: the link first (one atomic step), then its folder; whether there was one."""
    if not target.is_symlink() and not target.exists():
        return False
    if target.is_symlink():
        folder = target.parent / os.readlink(target)
        target.unlink()
        if folder.parent == target.parent and folder.name.startswith(_PREFIX):
            shutil.rmtree(folder, ignore_errors=True)
    else:  # a folder written by hand in the export's place: moved aside in one step, then removed
        aside = target.with_name(f"{_PREFIX}old-{secrets.token_hex(4)}")
        os.replace(target, aside)
        shutil.rmtree(aside, ignore_errors=True)
    return True


def _sweep(target: Path) -> None:
    """Remove what a crashed export left beside the link: folders it does not point at, unused links."""
    keep = os.readlink(target) if target.is_symlink() else None
    for entry in target.parent.iterdir():
        if not entry.name.startswith(_PREFIX) or entry.name == keep:
            continue
        if entry.is_symlink() or entry.is_file():
            entry.unlink(missing_ok=True)
        else:
            shutil.rmtree(entry, ignore_errors=True)


def _build_and_swap(config: GovernanceConfig, registry: Registry, verified: VerifiedCard, target: Path) -> None:
    """Build the export in a hidden folder beside the link, then point the link at it (one rename)."""
    folder = target.parent / f"{_PREFIX}v{verified.version}-{secrets.token_hex(4)}"
    folder.mkdir()
    try:
        model_sha256 = _download_model(registry, verified, folder / "model")
        card = canonical_json(dict(verified.card))
        if hashlib.sha256(card).hexdigest() != verified.card_sha256:
            raise PrivacyError(
                f"refusing to export version {verified.version}: its card does not hash to its card.sha256 tag; "
                "it changed after the audit"
            )
        atomic_write(folder / "card.json", card)
        html = _card_html(config, verified)
        if html is not None:
            atomic_write(folder / "card.html", html.encode("utf-8"))
        manifest = {
            "schema": EXPORT_SCHEMA,
            "registered_model": verified.registered_model,
            "version": verified.version,
            "run_id": verified.run_id,
            "candidate": verified.candidate,
            "card_sha256": verified.card_sha256,
            "model_sha256": model_sha256,
            "model_path": "model",
            "card_html": html is not None,
            "exported_at": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        }
        atomic_write(folder / "manifest.json", canonical_json(manifest))
        atomic_write(folder / CHECKSUMS, _checksums(folder))
        _durable(folder)
        _cancel.check()  # the last point before the swap: a cancelled command exports nothing
        _swap(target, folder)
    except BaseException as exc:
        shutil.rmtree(folder, ignore_errors=True)
        with suppress(OSError):  # never an export of a version that is not champion, nor one that fails
            if isinstance(exc, PrivacyError):
                _withdraw(target)
            else:
                _withdraw_unless(target, _manifest(target), verified.version)
        raise
    _sweep(target)


def _durable(folder: Path) -> None:
    """Flush every file and folder of a built export to disk, so that the rename never names lost bytes."""
    for path in [*sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True), folder]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _swap(target: Path, folder: Path) -> None:
    """Point ``target`` at ``folder`` by renaming a new link over it (atomic); remove the folder it left."""
    link = target.with_name(f"{_PREFIX}link-{secrets.token_hex(4)}")
    os.symlink(folder.name, link, target_is_directory=True)
    old = target.parent / os.readlink(target) if target.is_symlink() else None
    if target.exists() and not target.is_symlink():
        _withdraw(target)  # a folder written by hand in the export's place cannot be renamed over
    os.replace(link, target)
    _durable_folder(target.parent)
    if old is not None and old != folder and old.name.startswith(_PREFIX):
        shutil.rmtree(old, ignore_errors=True)


def _durable_folder(folder: Path) -> None:
    """Flush a folder's entries (the renamed link) to disk; a file system that cannot is left as it is."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _download_model(registry: Registry, verified: VerifiedCard, destination: Path) -> str:
    """Download the version's model files and check them against the checksum recorded at logging; its sha256."""
    from governance.registry import tree_sha256
    from governance.registry.models import download_model

    with registry.call("download the champion's model"):
        client = registry.client
        tags = client.get_run(verified.run_id).data.tags
        model_id, expected = tags.get("model.id"), tags.get("model.sha256")
        if not model_id or not expected:
            raise PrivacyError(
                f"refusing to export version {verified.version}: its run has no model.id / model.sha256 tags; "
                "governance exports only models it logged and checksummed"
            )
        with tempfile.TemporaryDirectory(prefix=".download-", dir=destination.parent) as tmp:
            local = download_model(client, model_id, tmp, uri=registry.uri)
            actual = tree_sha256(local)
            if actual != expected:
                raise PrivacyError(
                    f"refusing to export version {verified.version}: its model files hash to sha256 "
                    f"{actual[:12]}..., not the {expected[:12]}... recorded when they were logged"
                )
            os.replace(local, destination)
    return actual


def _card_html(config: GovernanceConfig, verified: VerifiedCard) -> str | None:
    """Render the card, with the figures saved beside the run's card when they are this version's.

    None when the registry's card, valid by the card contract, lacks what the page shows (a card
    written by another tool): card.json is the export's contract, the page only its rendering.
    """
    from jinja2 import TemplateError

    from governance.card import ModelCard, load_figures, render_html

    folder = config.output.reports / "cards" / verified.candidate
    figures = []
    try:
        local = json.loads((folder / "card.json").read_text(encoding="utf-8"))["model"]
        if str(local.get("version")) == str(verified.version) and local.get("run_id") == verified.run_id:
            figures = load_figures(folder)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    try:
        return render_html(ModelCard.from_dict(dict(verified.card)), figures)
    except TemplateError:
        return None


def _checksums(folder: Path) -> bytes:
    """Return ``SHA256SUMS``: one ``<sha256>  <relative path>`` line per file, in path order."""
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative == CHECKSUMS:
            continue
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {relative}\n")
    return "".join(lines).encode("utf-8")
