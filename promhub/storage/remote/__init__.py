"""Remote storage: the remote_write sender (:class:`WriteStorage`), fed from the WAL."""

from promhub.storage.remote.write import WriteStorage

__all__ = ["WriteStorage"]
