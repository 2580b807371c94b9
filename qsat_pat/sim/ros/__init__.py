"""The simulator's DDS side: node ``sim_world``'s machinery (:mod:`qsat_pat.nodes.sim_world`
is the executable).

The world (:class:`qsat_pat.sim.world.World`: orbit truth, Basilisk ADCS, plants,
atmosphere, cameras) and the loop of :func:`qsat_pat.sim.loop.run_direct` run in the
``sim_world`` process.  Frames of the cameras whose software runs as nodes (``remote_cameras``)
are published as ``sensor_msgs/Image``, and each frame is answered before simulated time
goes on::

    step k   /clock = t0 + k dt                      (every node runs on use_sim_time)
             frame due -> <ns>/image (mono16, stamp = mid-exposure time)
                 -> beacon_imaging -> <ns>/beacon_centroid -> fsm_controller -> <ns>/fsm_command
             sim_world waits for that centroid and that command (lockstep), uses the
             centroid as the terminal's measurement and the command as the FSM's
             (coarse frames: the centroid and the coarse tracker's estimate)
             mount tick (100 Hz) -> /ogs/mount_encoder -> gimbal_controller -> /ogs/mount_command,
                 gimbal's mount_state -> pat_manager -> /ogs/pat_status (both awaited)
             -> the plants advance one step -> step k+1

Simulated time is the UTC of the pass (``t0`` = the scenario's start), so the ephemeris
node on ``use_sim_time`` propagates its TLE (the terminals' perturbed TLE, given as a
parameter) at the right epoch and the fine controller takes the point-ahead from it.

**Strict lockstep** (:mod:`qsat_pat.nodes.lockstep`; ``run_ros``, ``qsat-pat up sim`` and
``sim.launch.py`` give the nodes a counter directory): every lockstep node counts, in shared
memory, the messages it published and the callbacks it finished per topic, and its timers
run only when ``sim_world`` gives it its turn.  Each step is a sequence of groups -- the clock;
each node whose timers are due (ephemeris 20 Hz, FSM states 50 Hz), in name order; each
frame; the mount encoders; the satellite's attitude -- and after each group ``sim_world`` waits
until every subscriber has finished every message published since the start ("quiet").
So every node sees its inputs in the same order at the same simulated time, and two runs
of a seed give identical records (test_sim_ros.py), whatever the machine's load.  A group
that is not quiet within ``answer_timeout_s`` (wall clock) is counted in the record's notes
and the run goes on.  Without a counter directory only the named answers are awaited (the
centroid, the FSM command, the mount command and PAT status): repeats then agree closely,
not bit for bit.

What runs where (this is what the ``sim`` deployment contains today): the whole OGS
terminal runs as the ``ogs`` deployment's nodes -- coarse and fine imaging, coarse tracker,
ephemeris, FSM controller, gimbal controller on a simulated mount (``mount_encoder`` ->
``mount_command`` at the mount rate), PAT manager stepping on each ``mount_state`` -- and so
does the satellite's fine loop (its camera -> ``beacon_imaging`` -> ``fsm_controller``; its
frames are answered at the satellite's control steps) and its ``pat_manager`` (stepping on
each ``/space/body_state``).  The satellite's attitude software is ``adcs_pointing``: ``sim_world``
is its ADCS (Basilisk, star-tracker + gyro estimate) -- ``/space/adcs_state`` every
satellite step (before adcs_pointing's timer turn), ``/space/body_target`` (LVLH angles,
roll fixed by the orbit normal) flown every flight-software period; adcs_pointing targets
the beacon tracked by ``/space/track_predictor`` and gives the FSM its point-ahead
(``fsm_ephemeris``).  (``remote_space_adcs=False`` keeps the older in-process attitude
targets, which publish what adcs_pointing would.)

Modules:

* :mod:`.link` -- :class:`~qsat_pat.sim.ros.link.RosLink`, the lockstep exchange of frames,
  answers, mount and satellite messages with the nodes;
* :mod:`.startup` -- waiting for the nodes, the DDS matches and the start of the strict lockstep;
* :mod:`.parameters` -- the lockstep nodes' parameters for a scenario, ``sim_world``'s own;
* :mod:`.run` -- flying a pass against running nodes, or starting them first;
* :mod:`.lockstep` -- ``sim_world``'s side of the strict lockstep (the quiet test).

Unlike the rest of :mod:`qsat_pat.sim`, these modules use rclpy and the messages.
"""
