"""promhub.tsdb: the embedded time-series database.

>>> from promhub.tsdb import DB
>>> db = DB.open("data")          # doctest: +SKIP
>>> app = db.appender()            # doctest: +SKIP

The public names are the database, its statistics and the inspection tools; the head,
WAL, block and encoding modules are implementation behind :class:`DB`.
"""

from promhub.tsdb.db import DB, DataDirError, DBQuerier, Stats
from promhub.tsdb.head import UnknownSeriesError
from promhub.tsdb.tool import analyze, dump

__all__ = ["DB", "DBQuerier", "DataDirError", "Stats", "UnknownSeriesError", "analyze", "dump"]
