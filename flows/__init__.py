"""roadmap-warehouse: the nightly pipeline and warehouse for the annual review of MI Roadmap Goal Four."""
