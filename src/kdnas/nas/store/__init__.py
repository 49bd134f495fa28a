"""The candidate store: measurements, proposals and leases in SQLite or any SQLAlchemy database (one schema,
versioned). Imports models, errors; never Hydra.
"""

from kdnas.nas.store.candidate_store import LEASE_SECONDS, CandidateStore, owner_name, store_url
from kdnas.nas.store.measurement import MAX_ATTEMPTS, REPLAYED, SHARED, THIS_RUN, Measurement, setting_key
from kdnas.nas.store.schema import SCHEMA_VERSION

__all__ = ["LEASE_SECONDS", "MAX_ATTEMPTS", "REPLAYED", "SCHEMA_VERSION", "SHARED", "THIS_RUN", "CandidateStore",
           "Measurement", "owner_name", "setting_key", "store_url"]
