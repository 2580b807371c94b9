"""ROS 2 nodes: thin adapters over qsat_pat.core (one module per node)."""
