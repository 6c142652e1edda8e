"""Scoring content rules on image embeddings, with the caches that keep re-runs cheap.

* prompts: ``mean cos(q, T+) − mean cos(q, T−)`` (only ``mean cos(q, T+)`` without negatives);
  needs a model with a text tower.
* prototypes: ``cos(q, P+) − λ·cos(q, P−)`` where P is the normalised mean of the normalised
  embeddings of a sample folder. A prototype is stored under a key made of the model version
  and every sample file's identity (path, size, mtime, inode, ctime), so adding, removing or
  rewriting a sample rebuilds it and nothing else does.
* generation prompts: substrings of the prompt the generator embedded (metadata only).

Vectors come from the catalog when the scan stored them for this model and the file is
unchanged (no second decode); otherwise the image is decoded once and its vector kept in the
rules store. Results are kept per (file identity, rule signature): a changed rule, model,
sample folder or file re-evaluates only what it must.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.engine import catalog_health
from lookalike.engine.media.discover import IMAGE_EXTENSIONS
from lookalike.engine.rules import genprompt
from lookalike.engine.rules.content import Condition, ContentRule, RuleError, Test

DEFAULT_MODEL = "effnet-lite0"
TEXT_MODELS = "clip-vit-b-32, clip-vit-b-32-openai, siglip-vit-b-16 or vit-h-14-laion"
EMB_PREFIX = "emb:"  # the catalog's embedding feature names (ml_stage.EMB_PREFIX)


@dataclass(frozen=True)
class RuleResult:
    """What one rule made of one file. ``hit`` already accounts for ``unless``; ``vetoed`` says
    the rule matched but an ``unless`` guard stopped it."""

    rule: str
    path: str
    hit: bool
    score: float
    vetoed: bool = False
    error: str = ""


def identity(path: str) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns


def image_files(folder: str) -> list[str]:
    """Images under ``folder`` (recursive, by extension), sorted; hidden folders skipped."""
    out: list[str] = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [
            os.path.join(top, f)
            for f in sorted(files)
            if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS
        ]
    return out


def load_rgb(path: str, size: int) -> Any:
    """Decode once, reduced (``draft``), EXIF-rotated, alpha on white: the model's input."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        try:
            im.draft("RGB", (size * 2, size * 2))
        except Exception:
            pass
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "P", "PA"):
            im = im.convert("RGBA")
            white = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, im)
        return im.convert("RGB")


class RuleStore:
    """SQLite beside the catalog cache: vectors of files the scan did not embed, prototypes'
    keys, and results per (file identity, rule signature). Paths are bytes (any name)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with catalog_health.opening(path):  # two scans may create it together
            self.db = sqlite3.connect(path, timeout=catalog_health.BUSY_TIMEOUT)
            catalog_health.wal_mode(self.db)
            self._schema()

    def _schema(self) -> None:
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS vectors (path BLOB, ident TEXT, model TEXT, data BLOB,
                PRIMARY KEY (path, model));
            CREATE TABLE IF NOT EXISTS results (path BLOB, ident TEXT, signature TEXT,
                hit INTEGER, score REAL, vetoed INTEGER, PRIMARY KEY (path, signature));
            CREATE TABLE IF NOT EXISTS prototypes (key TEXT PRIMARY KEY, folder BLOB, n INTEGER,
                data BLOB);
            """
        )

    def close(self) -> None:
        self.db.close()

    def vector(self, path: str, ident: str, model: str) -> np.ndarray | None:
        row = self.db.execute(
            "SELECT ident, data FROM vectors WHERE path=? AND model=?", (os.fsencode(path), model)
        ).fetchone()
        if row is None or row[0] != ident:
            return None
        return np.frombuffer(row[1], dtype=np.float32)

    def put_vector(self, path: str, ident: str, model: str, v: np.ndarray) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO vectors VALUES (?,?,?,?)",
            (os.fsencode(path), ident, model, v.astype(np.float32).tobytes()),
        )

    def result(self, path: str, ident: str, sig: str) -> tuple[bool, float, bool] | None:
        row = self.db.execute(
            "SELECT ident, hit, score, vetoed FROM results WHERE path=? AND signature=?",
            (os.fsencode(path), sig),
        ).fetchone()
        if row is None or row[0] != ident:
            return None
        return bool(row[1]), float(row[2]), bool(row[3])

    def put_result(self, path: str, ident: str, sig: str, r: RuleResult) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?)",
            (os.fsencode(path), ident, sig, int(r.hit), r.score, int(r.vetoed)),
        )

    def prototype(self, key: str) -> np.ndarray | None:
        row = self.db.execute("SELECT data FROM prototypes WHERE key=?", (key,)).fetchone()
        return None if row is None else np.frombuffer(row[0], dtype=np.float32)

    def put_prototype(self, key: str, folder: str, n: int, v: np.ndarray) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO prototypes VALUES (?,?,?,?)",
            (key, os.fsencode(folder), n, v.astype(np.float32).tobytes()),
        )

    def commit(self) -> None:
        self.db.commit()


def default_store_path() -> Path:
    from lookalike.engine import settings

    return settings.current().cache_dir / "rules.sqlite"


class RuleEngine:
    """Evaluates content rules on files. The embedding model is loaded only when a vector is
    missing everywhere (catalog and store), so re-runs on a scanned collection never load it.

    ``embedder`` may be given (tests, the scan's own); otherwise ``model`` (default
    effnet-lite0, offline) is loaded on first need."""

    def __init__(
        self,
        rules: Sequence[ContentRule],
        *,
        model: str | None = None,
        embedder: Any = None,
        catalog: str | os.PathLike[str] | None = None,
        store: Path | None = None,
        device: str = "auto",
        classifiers: dict[str, Any] | None = None,
        weights: str | os.PathLike[str] | None = None,
    ) -> None:
        from lookalike.engine.embedders import resolve

        self.rules = [r for r in rules if r.enabled]
        self.spec = embedder.spec if embedder is not None else resolve(model or DEFAULT_MODEL)
        self._embedder = embedder
        self.device = device
        self.weights = Path(weights).expanduser() if weights else None
        self.catalog_path = Path(catalog) if catalog else None
        self.store = RuleStore(store or default_store_path())
        self._protos: dict[str, tuple[str, np.ndarray]] = {}
        self._texts: dict[str, np.ndarray] = {}
        self.classifier_specs = dict(classifiers or {})
        self._classifiers: dict[str, Any] = {}
        self._probs: dict[tuple[str, str], np.ndarray] = {}
        self.notes: list[str] = []  # for the user, once per run (e.g. an unsafe model load)
        self.built: list[str] = []  # sample folders whose prototype was (re)built this run
        self.embedded = 0  # images this engine decoded and embedded
        # at most this many images embedded per call (None: no limit); the app's preview sets
        # it so opening a screen never starts hours of decoding in the background
        self.embed_limit: int | None = None
        # path → a byte-identical file whose vector the catalog holds (the scan decodes one
        # file per exact cluster; scan --rules reads the copies' vectors from it)
        self.aliases: dict[str, str] = {}
        for r in self.rules:
            if r.needs_text and not self.spec.text:
                raise RuleError(
                    f"content rule {r.name!r}: prompts need a model with a text tower, and "
                    f"{self.spec.name} has none; set [rules] model (or pass --model) to "
                    f"{TEXT_MODELS}"
                )

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> RuleEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- vectors --------------------------------------------------------------------------
    @property
    def model_version(self) -> str:
        if self._embedder is not None:
            return str(self._embedder.version)
        if self.weights is not None:  # as the Embedder and the scan name it
            from lookalike.engine.features.embed import _file_tag

            return f"{self.spec.version}:w{_file_tag(self.weights)}"
        return self.spec.version

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            from lookalike.engine.features.embed import Embedder

            self._embedder = Embedder(self.spec, device=self.device, weights=self.weights)
        return self._embedder

    def vectors(self, paths: Sequence[str]) -> dict[str, np.ndarray | str]:
        """Unit vector per path, or the error message for a file that cannot be read."""
        out: dict[str, np.ndarray | str] = {}
        idents: dict[str, str] = {}
        missing: list[str] = []
        for p in paths:
            try:
                idents[p] = repr(identity(p))
            except OSError as exc:
                out[p] = f"cannot read ({exc.strerror or exc})"
                continue
            v = self.store.vector(p, idents[p], self.model_version)
            if v is not None:
                out[p] = v
            else:
                missing.append(p)
        missing = self._from_catalog(missing, out)
        if self.embed_limit is not None and len(missing) > self.embed_limit:
            raise RuleError(
                f"{len(missing)} image(s) have no stored vector for {self.spec.name} yet (more "
                f"than {self.embed_limit} to embed here); run lookalike rules run FOLDER "
                "--dry-run once (it keeps the vectors), then score again"
            )
        batch: list[tuple[str, np.ndarray]] = []
        for p in missing:
            try:
                arr = self.spec.preprocess(load_rgb(p, self.spec.input_size))
            except Exception as exc:  # corrupt, truncated, not an image: one message, go on
                out[p] = f"cannot decode as an image ({type(exc).__name__}: {exc})"
                continue
            batch.append((p, arr))
        if batch:
            vecs = self.embedder.embed_arrays([a for _, a in batch])
            self.embedded += len(batch)
            for (p, _), v in zip(batch, vecs, strict=True):
                out[p] = v
                self.store.put_vector(p, idents[p], self.model_version, v)
            self.store.commit()
        return out

    def _from_catalog(self, paths: list[str], out: dict[str, np.ndarray | str]) -> list[str]:
        """Vectors the scan stored for this model, for files unchanged since; returns the rest."""
        if not paths or self.catalog_path is None or not self.catalog_path.is_file():
            return paths
        from lookalike.engine.catalog import Catalog, CatalogError

        rest: list[str] = []
        try:
            with Catalog(self.catalog_path) as cat:
                name = EMB_PREFIX + self.model_version
                rows = {}
                for p in paths:
                    src = self.aliases.get(p, p)
                    r = cat.file_by_path(src)
                    st = os.stat(src)
                    if r is not None and r.size == st.st_size and r.mtime_ns == st.st_mtime_ns:
                        rows[r.id] = p
                    else:
                        rest.append(p)
                raw = cat.load_features(name, 1, list(rows)) if rows else {}
                for fid, p in rows.items():
                    data = raw.get(fid)
                    if data is None or len(data) != 2 * self.spec.dim:
                        rest.append(p)
                        continue
                    v = np.frombuffer(data, dtype=np.float16).astype(np.float32)
                    out[p] = v / max(float(np.linalg.norm(v)), 1e-12)
        except (CatalogError, sqlite3.Error, OSError):
            return paths
        return rest

    # -- prototypes and prompts ---------------------------------------------------------------
    def prototype_key(self, folder: str) -> str:
        """Model version + every sample file's identity: any change makes a new key."""
        if folder in self._protos:
            return self._protos[folder][0]
        if not os.path.isdir(folder):
            raise RuleError(f"prototype folder {folder} does not exist; create it and add samples")
        files = image_files(folder)
        if not files:
            raise RuleError(f"prototype folder {folder} holds no images; add a few samples")
        h = hashlib.sha256(self.model_version.encode())
        for f in files:
            h.update(os.fsencode(os.path.relpath(f, folder)) + b"\0")
            h.update(repr(identity(f)).encode())
        key = h.hexdigest()[:24]
        v = self.store.prototype(key)
        if v is None:
            vecs = self.vectors(files)
            good = [x for x in vecs.values() if isinstance(x, np.ndarray)]
            if not good:
                raise RuleError(f"prototype folder {folder}: none of its images could be read")
            mean = np.mean(np.stack(good), axis=0)
            v = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
            self.store.put_prototype(key, folder, len(good), v)
            self.store.commit()
            self.built.append(folder)
        self._protos[folder] = (key, v)
        return key

    def prototype(self, folder: str) -> np.ndarray:
        self.prototype_key(folder)
        return self._protos[folder][1]

    def text_vectors(self, prompts: tuple[str, ...]) -> np.ndarray:
        todo = [p for p in prompts if p not in self._texts]
        if todo:
            for p, v in zip(todo, self.embedder.embed_texts(todo), strict=True):
                self._texts[p] = v
        return np.stack([self._texts[p] for p in prompts])

    def probabilities(self, name: str, path: str) -> np.ndarray:
        """The classifier's softmax row for the file (loaded once per run, file decoded once)."""
        if (name, path) not in self._probs:
            if name not in self._classifiers:
                from lookalike.engine.rules.classifier import load_classifier

                if name not in self.classifier_specs:
                    raise RuleError(f"no [classifiers.{name}] table in the config")
                from lookalike.engine.embedders import ModelUnavailable
                from lookalike.engine.features.embed import pick_device

                try:
                    device = pick_device(self.device)  # auto: the GPU when torch sees one
                except ModelUnavailable as exc:  # one message for the run, not one per file
                    raise RuleError(str(exc)) from None
                clf = load_classifier(self.classifier_specs[name], device)
                self.notes += clf.notes
                self._classifiers[name] = clf
            clf = self._classifiers[name]
            image = load_rgb(path, clf.input_size)
            self._probs[(name, path)] = clf.probabilities([image])[0]
        return self._probs[(name, path)]

    # -- scoring -------------------------------------------------------------------------------
    def condition_score(
        self, c: Condition, path: str, vec: np.ndarray | None
    ) -> tuple[bool, float]:
        if c.kind == "generation_prompt":
            hit = genprompt.matches(genprompt.generation_text(path), c.substrings)
            return hit, 1.0 if hit else 0.0
        if c.kind == "classifier":
            assert c.classifier is not None
            spec = self.classifier_specs[c.classifier]
            probs = self.probabilities(c.classifier, path)
            score = float(sum(probs[spec.classes.index(k)] for k in c.classes))
            floor = spec.min_probability if c.min_probability is None else c.min_probability
            return score >= floor, score
        assert vec is not None
        if c.kind == "prompts":
            score = float(np.mean(self.text_vectors(c.prompts) @ vec))
            if c.not_prompts:
                score -= float(np.mean(self.text_vectors(c.not_prompts) @ vec))
        else:
            assert c.prototype is not None
            score = float(self.prototype(c.prototype) @ vec)
            if c.negative_prototype:
                score -= c.lam * float(self.prototype(c.negative_prototype) @ vec)
        return score >= c.threshold, score

    def test_score(self, t: Test, path: str, vec: np.ndarray | None) -> tuple[bool, float]:
        got = [self.condition_score(c, path, vec) for c in t.conditions]
        if t.mode == "any":
            hits = [s for h, s in got if h]
            return bool(hits), max(hits) if hits else max(s for _, s in got)
        return all(h for h, _ in got), min(s for _, s in got)

    def signature(self, rule: ContentRule) -> str:
        keys = {f: self.prototype_key(f) for f in rule.prototype_folders()}
        for name in rule.classifiers():
            if name not in self.classifier_specs:
                raise RuleError(f"content rule {rule.name!r}: no [classifiers.{name}] table")
            keys["classifier:" + name] = self.classifier_specs[name].key()
        return rule.signature(self.model_version, keys)

    def evaluate(self, rule: ContentRule, paths: Sequence[str]) -> list[RuleResult]:
        """The rule on each file (folders not checked here: see :meth:`first_hits`)."""
        sig = self.signature(rule)
        results: dict[str, RuleResult] = {}
        idents: dict[str, str] = {}
        todo: list[str] = []
        for p in paths:
            try:
                idents[p] = repr(identity(p))
            except OSError as exc:
                results[p] = RuleResult(rule.name, p, False, 0.0, error=exc.strerror or str(exc))
                continue
            got = self.store.result(p, idents[p], sig)
            if got is not None:
                results[p] = RuleResult(rule.name, p, got[0], got[1], got[2])
            else:
                todo.append(p)
        vecs: dict[str, np.ndarray | str] = self.vectors(todo) if rule.needs_vector else {}
        for p in todo:
            v = vecs.get(p)
            if isinstance(v, str):
                results[p] = RuleResult(rule.name, p, False, 0.0, error=v)
                continue
            try:
                hit, score = self.test_score(rule.when, p, v)
                vetoed = False
                if hit and rule.unless is not None:
                    vetoed, _ = self.test_score(rule.unless, p, v)
            except OSError as exc:
                results[p] = RuleResult(rule.name, p, False, 0.0, error=exc.strerror or str(exc))
                continue
            except RuleError:
                raise  # a classifier that cannot load: one message for the run, not per file
            except Exception as exc:  # e.g. a file Pillow cannot open for its metadata
                results[p] = RuleResult(
                    rule.name, p, False, 0.0, error=f"{type(exc).__name__}: {exc}"
                )
                continue
            r = RuleResult(rule.name, p, hit and not vetoed, score, vetoed)
            results[p] = r
            self.store.put_result(p, idents[p], sig, r)
        self.store.commit()
        return [results[p] for p in paths]

    def first_hits(self, paths: Iterable[str]) -> tuple[dict[str, RuleResult], list[RuleResult]]:
        """Ordered rules, first match wins: path → the rule result that fired, plus every
        error met (one message per file and rule)."""
        pending = list(dict.fromkeys(os.path.abspath(p) for p in paths))
        fired: dict[str, RuleResult] = {}
        errors: list[RuleResult] = []
        for rule in self.rules:
            # a rule never acts on its own sample images (moving them would change the rule)
            samples = tuple(f.rstrip(os.sep) + os.sep for f in rule.prototype_folders())
            mine = [
                p
                for p in pending
                if p not in fired
                and rule.applies_to(p)
                and not os.path.realpath(p).startswith(samples or ("\0",))
            ]
            if not mine:
                continue
            for r in self.evaluate(rule, mine):
                if r.error:
                    errors.append(r)
                elif r.hit:
                    fired[r.path] = r
        return fired, errors
