"""Reading YAML files: one-line errors for missing files, bad syntax and duplicate keys."""

import functools
import os
import stat

from lab.errors import InputError


@functools.lru_cache(maxsize=None)
def _yaml():
    """PyYAML and a loader that refuses duplicate keys (YAML would silently keep the last one).
    Made at first use: the agents import this package and never read YAML (12 ms each)."""
    import yaml
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml parses a 1,000-service file 8x faster

    class StrictLoader(base):
        pass

    def construct_mapping(loader, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if isinstance(key, (list, dict)):
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"a mapping key must be a plain value, not a {type(key).__name__} "
                    f"(line {mark.line + 1})", mark)
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark)
            seen.add(key)
        return yaml.constructor.SafeConstructor.construct_mapping(loader, node, deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return yaml, StrictLoader


MAX_BYTES = 16 * 1024 * 1024  # an input file's limit
MAX_VALUES = 1_000_000  # values in a file's documents, every alias expanded
MAX_DEPTH = 100  # mappings and lists inside each other


def read_text(path):
    """A regular file's text, read once, at most MAX_BYTES (a device, a FIFO or a huge file is
    refused before anything reads it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # O_NONBLOCK: opening a FIFO must not wait
    except FileNotFoundError:
        raise InputError(path, "", "file not found", "check the path; paths in a scenario are "
                         "relative to the scenario file") from None
    except IsADirectoryError:
        raise InputError(path, "", "is a directory, not a YAML file") from None
    except OSError as exc:
        raise InputError(path, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError(path, "", "is a directory, not a YAML file")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(path, "", "is not a regular file (a device, a FIFO or a socket)", "name a YAML file")
        if info.st_size > MAX_BYTES:
            raise InputError(path, "", f"is {info.st_size} bytes, over svclab's limit of {MAX_BYTES // 2**20} MiB")
        data = os.read(fd, MAX_BYTES + 1)
        while len(data) <= MAX_BYTES:
            more = os.read(fd, MAX_BYTES + 1 - len(data))
            if not more:
                break
            data += more
    except OSError as exc:
        raise InputError(path, "", f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise InputError(path, "", f"is over svclab's limit of {MAX_BYTES // 2**20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, "", f"cannot read: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _bounded(doc, path):
    """Refuse documents whose aliases expand past MAX_VALUES values or that nest past MAX_DEPTH:
    every later step (the pod-template hash, the record) would expand them."""
    budget = MAX_VALUES
    stack = [(doc, 0)]
    while stack:
        value, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise InputError(path, "", f"its values, with every YAML alias expanded, number over {MAX_VALUES:,}",
                             "write the manifests out instead of nesting aliases")
        if isinstance(value, (dict, list)):
            if depth >= MAX_DEPTH:
                raise InputError(path, "", f"mappings and lists nest deeper than {MAX_DEPTH} levels")
            items = value.values() if isinstance(value, dict) else value
            stack.extend((v, depth + 1) for v in items)


def parse_documents(text, path):
    """All YAML documents in ``text`` (empty documents dropped)."""
    yaml, loader = _yaml()
    try:
        docs = list(yaml.load_all(text, Loader=loader))
    except RecursionError:
        raise InputError(path, "", f"mappings and lists nest deeper than {MAX_DEPTH} levels") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())  # one line, always
        raise InputError(path, "", f"malformed YAML: {where}{problem}",
                         "check indentation and quoting") from None
    docs = [d for d in docs if d is not None]
    for doc in docs:
        _bounded(doc, path)
    return docs


def load_documents(path):
    return parse_documents(read_text(path), path)


def label(docs, path):
    """(label, document) for each document of a file; the label names the document in errors."""
    return [(path if len(docs) == 1 else f"{path} (document {i + 1})", doc) for i, doc in enumerate(docs)]


def labelled_documents(path):
    return label(load_documents(path), path)


def single(docs, path):
    if len(docs) != 1:
        raise InputError(path, "", f"expected one YAML document, found {len(docs)}")
    return docs[0]


def load_single(path):
    return single(load_documents(path), path)
