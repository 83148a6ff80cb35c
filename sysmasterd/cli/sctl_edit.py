"""sctl edit: systemctl edit's semantics (systemd 252's systemctl-edit.c).

A unit is edited as a drop-in `<persistent config>/<unit>.d/override.conf` (with --runtime, the
runtime config dir, refused while a persistent one exists), or with --full as a copy of its
fragment at `<config>/<unit>`. The editor gets a temporary file beside the target: for a drop-in
the current override between two marker lines, followed by the unit's files as comments; what
lies between the markers is kept. An empty result cancels; a failing editor changes nothing.
Then the manager reloads (not with --no-reload). Editing needs a terminal, as systemctl's does.
The editor is $SYSTEMD_EDITOR, else $EDITOR, else $VISUAL (the first one set; split on
whitespace), else editor, nano, vim, vi.
"""

from __future__ import annotations

import os

from sysmasterd.cli.sctl_bus import UNIT, CallError, Client
from sysmasterd.cli.sctl_common import EXIT_FAILURE, Options, err

MARKER_START = "### Anything between here and the comment below will become the new contents of the file"
MARKER_END = "### Lines below this comment will be discarded"
_WHITESPACE = " \t\n\r"
_FALLBACK_EDITORS = ("editor", "nano", "vim", "vi")


class EditError(Exception):
    """Ends the verb with a failure; the message was printed already (or there is none)."""


def _config_dirs(opts: Options) -> tuple[str, str | None]:
    from compat.model import Scope
    from compat.search_path import lookup_paths

    lp = lookup_paths(Scope.USER if opts.user else Scope.SYSTEM, root_dir=opts.root or "/")
    return lp.persistent_config, lp.runtime_config


def _is_template(name: str) -> bool:
    return name.partition("@")[2].startswith(".")


def _client_side(opts: Options, name: str) -> str | None:
    """The fragment of a unit the manager cannot load (a template), from the search path."""
    from compat.model import Scope
    from compat.search_path import lookup_paths

    lp = lookup_paths(Scope.USER if opts.user else Scope.SYSTEM, root_dir=opts.root or "/")
    for directory in lp.search_path:
        path = os.path.join(directory, name)
        if os.path.lexists(path):
            return path
    return None


def _masked(client: Client, opts: Options, name: str) -> bool:
    if _is_template(name):
        path = _client_side(opts, name)
        return path is not None and (os.path.realpath(path) == "/dev/null" or os.path.getsize(path) == 0)
    return bool(client.get(client.unit_path(name), UNIT, "LoadState") == "masked")


def _find_paths(client: Client, opts: Options, name: str) -> tuple[str | None, list[str]]:
    """The unit's fragment and drop-ins as the manager reports them (systemctl's unit_find_paths)."""
    if _is_template(name):
        fragment: str | None = _client_side(opts, name)
        dropins: list[str] = []
    else:
        props = client.get_all(client.unit_path(name), UNIT)
        state = props.get("LoadState")
        if state in ("loaded", "bad-setting"):
            fragment, dropins = props.get("FragmentPath") or None, list(props.get("DropInPaths", []))
        elif state == "not-found":
            fragment, dropins = None, []
        else:  # the manager could not load it: look where the manager would have
            fragment, dropins = _client_side(opts, name), []
    if fragment is None and not dropins and not opts.force:
        err(f"No files found for {name}.")
    return fragment, dropins


def _target(opts: Options, relative: str) -> str:
    persistent, runtime = _config_dirs(opts)
    path = os.path.join(persistent, relative)
    if not opts.runtime:
        return path
    run = os.path.join(runtime or "", relative)
    if os.path.exists(path):
        err(f'Refusing to create "{run}" because it would be overridden by "{path}" anyway.')
        raise EditError
    return run


def _temp_name(path: str) -> str:
    directory, base = os.path.split(path)
    return os.path.join(directory, f".#{base}{os.urandom(8).hex()}")


def _read(path: str) -> str:
    with open(path, errors="surrogateescape") as f:
        return f.read()


def _new_temp(new_path: str, originals: list[str] | None) -> str:
    """The editor's file for `new_path`: for a drop-in the current text between the markers and
    the unit's files as comments; nothing is created for a new unit (the editor makes it)."""
    tmp = _temp_name(new_path)
    os.makedirs(os.path.dirname(new_path), mode=0o755, exist_ok=True)
    if originals is None:
        return tmp
    try:
        current = _read(new_path)
    except FileNotFoundError:
        current = ""
    text = (f"### Editing {new_path}\n{MARKER_START}\n\n{current}{'' if current.endswith(chr(10)) else chr(10)}\n"
            f"{MARKER_END}")
    for path in originals:
        if path == new_path:
            continue
        contents = _read(path)
        text += f"\n\n### {path}"
        if contents:
            text += "\n# " + contents.strip(_WHITESPACE).replace("\n", "\n# ")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    os.fchmod(fd, 0o644)
    with os.fdopen(fd, "w", errors="surrogateescape") as f:
        f.write(text)
    return tmp


def _copy_temp(new_path: str, fragment: str) -> str:
    """--full: the fragment copied beside `new_path` (an empty file if it is gone)."""
    tmp = _temp_name(new_path)
    os.makedirs(os.path.dirname(new_path), mode=0o755, exist_ok=True)
    try:
        with open(fragment, "rb") as src:
            data = src.read()
    except FileNotFoundError:
        data = b""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return tmp


def _ask_overwrite(new_path: str, fragment: str) -> bool:
    while True:
        print(f'"{new_path}" already exists. Overwrite with "{fragment}"? [(y)es, (n)o] ', end="", flush=True)
        answer = os.read(0, 256).decode(errors="replace").strip()
        if answer in ("y", "n"):
            return answer == "y"
        if not answer:
            return False


def _plan(client: Client, opts: Options, name: str) -> tuple[str, str]:
    """(the file to write, the editor's temporary file) for one unit."""
    fragment, dropins = _find_paths(client, opts, name)
    if fragment is None:
        if not opts.force:
            scope = " --user" if opts.user else ""
            err(f"Run 'systemctl edit{scope} --force --full {name}' to create a new unit.")
            raise EditError
        new_path = _target(opts, name if opts.full else name + ".d/override.conf")
        return new_path, _new_temp(new_path, None)
    unit_name = os.path.basename(fragment)
    # An instance edited through its template's file still edits the instance.
    if "@" in name and not _is_template(name) and _is_template(unit_name):
        instance = name.partition("@")[2].rpartition(".")[0]
        prefix, _, suffix = unit_name.partition("@")
        unit_name = f"{prefix}@{instance}{suffix}"
    if opts.full:
        new_path = _target(opts, unit_name)
        if fragment != new_path and os.path.exists(new_path) and not _ask_overwrite(new_path, fragment):
            err(f"{unit_name} skipped.")
            raise EditError
        return new_path, _copy_temp(new_path, fragment)
    new_path = _target(opts, unit_name + ".d/override.conf")
    return new_path, _new_temp(new_path, [fragment, *dropins])


def _run_editor(tmps: list[str]) -> bool:
    editor = os.environ.get("SYSTEMD_EDITOR")
    if editor is None:
        editor = os.environ.get("EDITOR")
    if editor is None:
        editor = os.environ.get("VISUAL")
    pid = os.fork()
    if pid == 0:
        try:
            if editor:
                words = editor.split()
                try:
                    os.execvp(words[0], [*words, *tmps])
                except OSError:
                    pass
            for name in _FALLBACK_EDITORS:
                try:
                    os.execvp(name, [name, *tmps])
                except FileNotFoundError:
                    continue
                except OSError as e:
                    err(f"Failed to execute {name}: {e.strerror}")
                    os._exit(EXIT_FAILURE)
            err("Cannot edit units, no editor available. Please set either $SYSTEMD_EDITOR, $EDITOR or $VISUAL.")
        finally:
            os._exit(EXIT_FAILURE)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return True
    if os.WIFEXITED(status):
        err(f"(editor) failed with exit status {os.WEXITSTATUS(status)}.")
    else:
        import signal

        err(f"(editor) terminated by signal {signal.Signals(os.WTERMSIG(status)).name}.")
    return False


def _trim(tmp: str) -> bool:
    """Keep what lies between the markers; False if the file cannot be read."""
    try:
        contents = _read(tmp)
    except OSError as e:
        err(f'Failed to read temporary file "{tmp}": {e.strerror}')
        return False
    start = contents.find(MARKER_START)
    body = contents[start + len(MARKER_START):] if start >= 0 else contents
    end = body.find(MARKER_END)
    if end >= 0:
        body = body[:end]
    # Rewritten only when cutting changed the text's end, as systemctl does; without a newline.
    if end >= 0 or body != body.rstrip(_WHITESPACE):
        with open(tmp, "w", errors="surrogateescape") as f:
            f.write(body.strip(_WHITESPACE))
    return True


def edit(client: Client, opts: Options, verb: str, patterns: list[str]) -> int:
    if not patterns:
        err("Too few arguments.")
        return EXIT_FAILURE
    if not (os.isatty(1) and os.isatty(2)):
        err("Cannot edit units if not on a tty.")
        return EXIT_FAILURE
    from sysmasterd.cli.sctl_lists import expand_names

    names = expand_names(client, opts, patterns)
    if not names:
        err("No units matched the specified patterns.")
        return EXIT_FAILURE
    for name in names:
        if _masked(client, opts, name):
            err(f"Cannot edit {name}: unit is masked.")
            return EXIT_FAILURE
    try:
        pairs = [_plan(client, opts, name) for name in names]
    except EditError:
        return EXIT_FAILURE
    ok = _run_editor([tmp for _, tmp in pairs])
    try:
        if ok:
            ok = _apply(pairs)
        if ok and not opts.no_reload:
            try:
                client.manager("Reload")
            except CallError as e:
                err(f"Failed to reload daemon: {e.text}")
    finally:
        for new_path, tmp in pairs:
            _remove(tmp)
            if not opts.full:
                _rmdir(os.path.dirname(new_path))
    # systemctl 252 reports a failed editor or rename only with --full: its clean-up of the
    # drop-in directories overwrites the error otherwise. Scripts see the same status here.
    return 0 if ok or not opts.full else EXIT_FAILURE


def _apply(pairs: list[tuple[str, str]]) -> bool:
    for new_path, tmp in pairs:
        if not _trim(tmp):
            continue
        try:
            empty = os.path.getsize(tmp) == 0
        except OSError:
            empty = True
        if empty:
            err(f'Editing "{new_path}" canceled: temporary file is empty.')
            continue
        try:
            os.rename(tmp, new_path)
        except OSError as e:
            err(f'Failed to rename "{tmp}" to "{new_path}": {e.strerror}')
            return False
    return True


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _rmdir(path: str) -> None:
    try:
        os.rmdir(path)  # only if empty: a cancelled edit leaves no empty drop-in directory
    except OSError:
        pass
