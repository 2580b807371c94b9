"""The simulator's DDS side: node ``sim_world``'s machinery (:mod:`qsat_pat.nodes.sim_world`
is the executable).

* :mod:`.link` -- :class:`~qsat_pat.sim.ros.link.RosLink`, the lockstep exchange of frames,
  answers, mount and satellite messages with the nodes;
* :mod:`.startup` -- waiting for the nodes, the DDS matches and the start of the strict lockstep;
* :mod:`.parameters` -- the lockstep nodes' parameters for a scenario, ``sim_world``'s own;
* :mod:`.run` -- flying a pass against running nodes, or starting them first;
* :mod:`.lockstep` -- ``sim_world``'s side of the strict lockstep (the quiet test).

Unlike the rest of :mod:`qsat_pat.sim`, these modules use rclpy and the messages.
"""
