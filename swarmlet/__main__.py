"""Entry point of `python -m swarmlet`, of the zipapp's entry point, and the zipapp's own `__main__.py`.

build.sh copies this file to the root of dist/swarmlet, where it runs before shiv's bootstrap:
it must parse on old interpreters (no newer syntax), so that they get one line instead of a
traceback, and it picks where shiv unpacks the bundled libraries before any unpacking happens.
"""

import os
import stat
import sys

MIN_PYTHON = (3, 11)


def _fail(message):
    sys.stderr.write("swarmlet: %s\n" % message)
    sys.exit(1)


def require_python():
    """Exit with one line on an interpreter older than MIN_PYTHON."""
    if sys.version_info < MIN_PYTHON:
        sys.stderr.write(
            "swarmlet requires Python %d.%d or newer; this is Python %d.%d (%s)\n"
            % (MIN_PYTHON + tuple(sys.version_info[:2]) + (sys.executable,))
        )
        sys.exit(1)


def _is_own_dir(path, private):
    """A real folder of this user that nobody else can write (or, if `private`, even read):
    code is imported from it."""
    info = os.lstat(path)
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.geteuid()
        and not info.st_mode & (0o077 if private else 0o022)
        and os.access(path, os.W_OK | os.X_OK)
    )


def _home_root(path):
    """Whether shiv's default ~/.shiv can be used (created if missing)."""
    try:
        os.makedirs(path, 0o700, exist_ok=True)
        return _is_own_dir(path, private=False)
    except OSError:
        return False


def _private_dir(path):
    """Create `path` for this user only, refusing one that someone else made or can enter."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        _fail("cannot create %s (%s); set SHIV_ROOT to a writable folder" % (path, exc.strerror))
    if not _is_own_dir(path, private=True):
        _fail("%s is not a private folder of this user; set SHIV_ROOT to a writable folder" % path)
    return path


def choose_extraction_root(environ):
    """Set SHIV_ROOT when shiv's default (~/.shiv) will not do: service users and read-only or
    missing homes, and a home that belongs to someone else (root with a user's HOME), get a
    per-user folder under the temporary directory instead."""
    if environ.get("SHIV_ROOT"):
        return environ["SHIV_ROOT"]
    home_root = os.path.expanduser("~/.shiv")
    if not home_root.startswith("~") and _home_root(home_root):
        return home_root
    import tempfile

    root = _private_dir(os.path.join(tempfile.gettempdir(), "swarmlet-shiv-%d" % os.geteuid()))
    environ["SHIV_ROOT"] = root
    return root


def main():
    require_python()
    from swarmlet.cli.main import main as cli_main

    sys.exit(cli_main(sys.argv[1:]))


def zipapp_main():
    """Run as the zipapp's top-level `__main__.py`: check, choose SHIV_ROOT, then let shiv
    unpack the libraries and call `main` through the entry point recorded in the archive."""
    require_python()
    choose_extraction_root(os.environ)
    import _bootstrap

    _bootstrap.bootstrap()


if __name__ == "__main__":
    import zipimport

    if isinstance(__loader__, zipimport.zipimporter) and not __package__:
        zipapp_main()  # the archive's own __main__.py
    else:
        main()  # python -m swarmlet
