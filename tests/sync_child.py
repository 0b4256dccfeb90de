"""Child process of the sync kill test: ``python sync_child.py ARCHIVE URL TOKEN``."""

import sys

import jobarchive
from jobarchive import Archive

if __name__ == "__main__":
    path, url, token = sys.argv[1:4]
    provider = jobarchive.connect(url, token)
    arc = Archive(path)
    print("READY", flush=True)
    arc.sync(provider, progress=False, lock_timeout=None, batch_size=50)
    print("DONE", flush=True)
