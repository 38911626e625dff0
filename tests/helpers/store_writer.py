"""A writer process for the crash tests: appends N chunks of records, skipping committed ones.

Run as `python store_writer.py STORE N_CHUNKS PER_CHUNK`; the tests SIGKILL it at random points.
"""

import sys

from selfinstruct.store import ChunkStore

path, n_chunks, per_chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = ChunkStore(path)
for c in range(n_chunks):
    # Big-ish records so a kill often lands in the middle of a write.
    rows = [{"id": f"r{c}-{i}", "chunk": c, "pad": "x" * 2000} for i in range(per_chunk)]
    store.write_chunk(f"chunk-{c}", rows)
store.mark_done({"chunks": n_chunks})
