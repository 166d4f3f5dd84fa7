"""How fresh a server's answers must be. Milvus Lite answers every read after every write; a Milvus server may
answer from a replica that has not seen the latest writes yet (2.3 creates collections "Bounded")."""

# Counts, document listings, the registry and judgments are cached and revalidated, so they are read rarely and
# must see every write, this process's or another's.
EXACT = "Strong"
# A search sees this client's own writes without waiting for the server's next time tick on every query; another
# process's writes show within the server's staleness bound (seconds).
SEARCH = "Session"


def settle(client, collection: str) -> None:
    """Wait until the server has applied every write so far to `collection`, before a query iterator reads it.

    Milvus 2.3's query iterator ignores the consistency level it is given and read a just-written collection as
    empty (measured on a 2.3.5 standalone). A Strong query waits for the server to catch up; the iterator's reads
    after it see every earlier write. Lite and newer servers honour the level anyway, but one count costs little,
    so every reader settles the same way wherever it runs.
    """
    client.query(collection, filter="", output_fields=["count(*)"], consistency_level=EXACT)
