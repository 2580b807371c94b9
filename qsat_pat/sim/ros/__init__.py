"""The simulator's DDS side: node ``sim_world`` (:mod:`.sim_world` is the executable) and its machinery.

The world (:class:`qsat_pat.sim.world.World`) and the loop of :func:`qsat_pat.sim.loop.run_direct`
run in the ``sim_world`` process; the terminals' software is the ``sim`` deployment's nodes --
the ``ogs`` and ``space`` terminals node for node -- and ``sim_world`` takes the place of their
devices only.  Each step is exchanged with them before simulated time goes on::

    step k   simulated time t0 + k dt                 (every node runs on use_sim_time)
             satellite step -> /space/adcs_state -> adcs_pointing
             each node with a timer due gets its turn (name order): ephemeris 20 Hz, the PAT
                 managers 100 Hz, the FSM states 50 Hz, adcs_pointing 10 Hz -> body_target ...
             frame due -> <ns>/image (mono16, stamp = mid-exposure time)
                 -> beacon_imaging -> <ns>/beacon_centroid -> fsm_controller -> <ns>/fsm_command
             mount tick (100 Hz) -> /ogs/mount_encoder -> gimbal_controller -> /ogs/mount_command
             every ADCS period: adcs_pointing's last body_target flies on the Basilisk ADCS
             -> the plants advance one step -> step k+1

Simulated time is the UTC of the pass (``t0`` = the scenario's start), so the ephemeris node
propagates its TLE (the terminals' perturbed TLE) at the right epoch.

**Strict lockstep** (:mod:`qsat_pat.nodes.lockstep` on the nodes' side, :mod:`.lockstep` on
``sim_world``'s; ``run_ros``, ``qsat-pat up sim`` and ``sim.launch.py`` give the nodes a counter
directory): every lockstep node counts, in shared memory, the messages it published and the
callbacks it finished per topic, and its timers run only when ``sim_world`` gives it its turn.
After each group of messages -- the satellite's attitude with the first timer turn, each node's
timer turn, each frame, the mount encoders -- ``sim_world`` waits until every subscriber has
finished every message published since the start ("quiet").  So every node sees its inputs in
the same order at the same simulated time, and two runs of a seed give identical records, and
the same record as the in-process mode (:mod:`qsat_pat.sim.terminal`, which drives the same
decision objects in the same order): ``test_sim_modes.py``.  A group that is not quiet within
``answer_timeout_s`` (wall clock) is counted in the record's notes and the run goes on.
Without a counter directory only the named answers are awaited (the centroid, the FSM
command, the mount command): repeats then agree closely, not bit for bit.

Modules:

* :mod:`.link` -- :class:`~qsat_pat.sim.ros.link.RosLink`, the lockstep exchange of frames,
  answers, mount and satellite messages with the nodes;
* :mod:`.startup` -- waiting for the nodes, the DDS matches and the start of the strict lockstep;
* :mod:`.parameters` -- the lockstep nodes' parameters for a scenario, ``sim_world``'s own;
* :mod:`.run` -- flying a pass against running nodes, or starting them first;
* :mod:`.lockstep` -- ``sim_world``'s side of the strict lockstep (the quiet test);
* :mod:`.sim_world` -- the executable.

Unlike the rest of :mod:`qsat_pat.sim`, these modules use rclpy and the messages.
"""
