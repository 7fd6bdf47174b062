"""Pack the output directory into one archive, split into parts when it is too large to come
back from the GPU machine in one file.

Compression follows the archive's name: *.tar.xz / *.txz -> xz (preset 9: its 64 MiB window
lets identical bytes in model.safetensors, the ggml f16 file and the sharded copy compress to
almost nothing), *.tar.gz / *.tgz -> gzip, *.tar -> none.
Parts are PATH.part-00, PATH.part-01, ...; `cat PATH.part-* > PATH` restores the archive.
"""

import hashlib
import os
import tarfile


def _mode_for(path):
    p = path.lower()
    if p.endswith((".tar.xz", ".txz")):
        return "w:xz"
    if p.endswith((".tar.gz", ".tgz")):
        return "w:gz"
    if p.endswith(".tar"):
        return "w"
    raise ValueError(f"{path}: archive name must end in .tar.xz, .tar.gz, .tgz, .txz or .tar")


def _sort_key(rel):
    # keep each fixture's files together; big weight files next to each other (dedupe under xz)
    order = {"model.safetensors": 0, "model-00001-of-00002.safetensors": 1,
             "model-00002-of-00002.safetensors": 2}
    d, b = os.path.split(rel)
    return (d, order.get(b, 10), b)


def list_files(src_dir):
    out = []
    for root, _dirs, files in os.walk(src_dir):
        for fn in files:
            full = os.path.join(root, fn)
            out.append(os.path.relpath(full, src_dir))
    return out


def pack(src_dir, archive_path, arcname_root=None, log=print):
    """Writes archive_path from src_dir (entries under arcname_root/, default the dir's name).
    Entries are sorted, with normalised owner/mtime, so the archive is reproducible up to
    compression-library versions. Each fixture's ggml files are put right after its
    safetensors so xz finds the shared bytes."""
    mode = _mode_for(archive_path)
    root = arcname_root or os.path.basename(os.path.normpath(src_dir))
    files = list_files(src_dir)
    # order: per fixture dir: dir files; root files (ggml .bin) placed after the fixture
    # with the same name prefix.
    top = sorted(f for f in files if os.sep not in f)
    nested = sorted((f for f in files if os.sep in f), key=_sort_key)
    ordered = []
    used = set()
    fixture_dirs = []
    for f in nested:
        d = f.split(os.sep)[0]
        if d not in fixture_dirs:
            fixture_dirs.append(d)
    for d in fixture_dirs:
        for f in nested:
            if f.split(os.sep)[0] == d:
                ordered.append(f)
        for f in top:
            if f.startswith(d + ".") and f not in used:
                ordered.append(f)
                used.add(f)
    ordered += [f for f in top if f not in used and f not in ordered]

    def norm(ti):
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        ti.mtime = 0
        return ti

    os.makedirs(os.path.dirname(os.path.abspath(archive_path)), exist_ok=True)
    kwargs = {}
    if mode == "w:xz":
        kwargs["preset"] = 9
    elif mode == "w:gz":
        kwargs["compresslevel"] = 9
    with tarfile.open(archive_path, mode, **kwargs) as tar:
        for rel in ordered:
            tar.add(os.path.join(src_dir, rel), arcname=os.path.join(root, rel), recursive=False,
                    filter=norm)
    size = os.path.getsize(archive_path)
    log(f"  packed {len(ordered)} files into {archive_path} ({size / 1e6:.2f} MB, mode {mode})")
    return size


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def split_file(path, part_bytes, log=print):
    """Splits path into path.part-NN of at most part_bytes each and removes path.
    Returns the list of part paths (just [path] when it is small enough)."""
    size = os.path.getsize(path)
    for old in _existing_parts(path):
        os.remove(old)
    if size <= part_bytes:
        return [path]
    parts = []
    with open(path, "rb") as f:
        i = 0
        while True:
            chunk = f.read(part_bytes)
            if not chunk:
                break
            p = f"{path}.part-{i:02d}"
            with open(p, "wb") as g:
                g.write(chunk)
            parts.append(p)
            i += 1
    os.remove(path)
    log(f"  split into {len(parts)} parts of <= {part_bytes / 1e6:.1f} MB: " + ", ".join(os.path.basename(p) for p in parts))
    return parts


def _existing_parts(path):
    d = os.path.dirname(os.path.abspath(path))
    b = os.path.basename(path) + ".part-"
    if not os.path.isdir(d):
        return []
    return [os.path.join(d, f) for f in os.listdir(d) if f.startswith(b)]


def join_parts(parts, out_path):
    with open(out_path, "wb") as g:
        for p in parts:
            with open(p, "rb") as f:
                g.write(f.read())
    return out_path
