"""The node table: which nodes make up each deployment, with parameters and remaps.

This one description drives both launchers:

* ``launch/<deployment>.launch.py`` turns it into ``launch_ros.actions.Node`` actions for
  real ROS 2 installs (``ros2 launch qsat_pat ogs.launch.py``);
* ``qsat-pat up <deployment>`` (:mod:`qsat_pat.launcher`) starts the same nodes here, as
  separate processes or composed in one process.

The module is plain data (no rclpy import) so CMake, setup.py, the launch files and the
tests can all read it.  Run ``python qsat_pat/deployments.py --executables`` to list the
node executables (CMakeLists.txt installs one entry script per executable).

Deployments
-----------
``ogs``
    The optical ground station terminal on real hardware.
``space``
    The satellite terminal on real hardware (flight computer or hardware-in-the-loop).
``sim``
    The simulator node and the nodes that close their loop with it over DDS, on simulated
    time (lockstep; see :mod:`qsat_pat.sim.ros`).

To add a node: write ``qsat_pat/nodes/<module>.py`` with a ``main(args=None)``, add it to
:data:`EXECUTABLES`, add a :class:`NodeSpec` to the deployments that run it, and put its
parameters in ``config/<file>.yaml`` under ``<node name>: ros__parameters:`` (or ``/**``).
``test/test_deployments.py`` then checks the module, the file and every parameter name.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

#: Node executables of the package -> module whose ``main(args=None)`` runs the node.
#: ``ros2 run qsat_pat <executable>`` and ``<venv>/lib/qsat_pat/<executable>`` run it.
EXECUTABLES: dict[str, str] = {
    "adcs_pointing": "qsat_pat.nodes.adcs_pointing",
    "bag_recorder": "qsat_pat.nodes.bag_recorder",
    "beacon_imaging": "qsat_pat.nodes.beacon_imaging",
    "ephemeris": "qsat_pat.nodes.ephemeris",
    "fsm_controller": "qsat_pat.nodes.fsm_controller",
    "gimbal_controller": "qsat_pat.nodes.gimbal_controller",
    "optical_modem": "qsat_pat.nodes.optical_modem",
    "pat_manager": "qsat_pat.nodes.pat_manager",
    "qkd_monitor": "qsat_pat.nodes.qkd_monitor",
    "sim_world": "qsat_pat.sim.ros.sim_world",
    "track_predictor": "qsat_pat.nodes.track_predictor",
}

#: Namespaces of the two terminals (topics are relative, so they land under these).
OGS_NS = "/ogs"
SPACE_NS = "/space"


@dataclass(frozen=True)
class NodeSpec:
    """One node of a deployment.

    Attributes
    ----------
    executable : str
        Key of :data:`EXECUTABLES`.
    name : str
        Node name (unique within its namespace).
    namespace : str
        Absolute namespace, e.g. ``"/ogs"``; ``"/"`` for the global one.
    parameters : tuple of str
        Parameter files, relative to ``config/``, applied in order.
    remappings : tuple of (str, str)
        Topic remaps ``(from, to)``.
    arguments : tuple of str
        Extra command-line arguments (before ``--ros-args``).
    """

    executable: str
    name: str
    namespace: str = "/"
    parameters: tuple[str, ...] = ()
    remappings: tuple[tuple[str, str], ...] = ()
    arguments: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        """Python module of the node."""
        return EXECUTABLES[self.executable]

    @property
    def fqn(self) -> str:
        """Fully qualified node name, e.g. ``/ogs/beacon_imaging``."""
        ns = self.namespace.rstrip("/")
        return f"{ns}/{self.name}"


@dataclass(frozen=True)
class Deployment:
    """A named set of nodes and whether they run on simulated time."""

    name: str
    description: str
    nodes: tuple[NodeSpec, ...]
    use_sim_time: bool = False
    #: The one station file (``config/stations/<station>.yaml``, :mod:`qsat_pat.core.site`)
    #: every node of the deployment reads; the simulator gives its scenario's site instead.
    station: str = "tenerife"
    extra: dict = field(default_factory=dict)
    #: Full names of the nodes that join sim_world's strict lockstep (they and sim_world get
    #: one counter directory in QSAT_PAT_LOCKSTEP_DIR; see qsat_pat/nodes/lockstep.py).
    lockstep: tuple[str, ...] = ()
    #: Topics the deployment's nodes subscribe to that no node of it publishes: what the
    #: station (its devices, its operator) feeds in, ``{topic: what publishes it}``.  Every
    #: other subscribed topic has a publisher in the deployment (test_graph_completeness.py).
    external_inputs: dict[str, str] = field(default_factory=dict)
    #: The device topics the simulator (``sim_world``) publishes in place of the station's
    #: devices, ``{topic: device}`` (``sim`` only: the sim may replace a device, nothing else).
    simulated_devices: dict[str, str] = field(default_factory=dict)


#: The OGS coarse (wide-field acquisition) camera's imaging node: frames on ``coarse/image``,
#: centroids on ``coarse_centroid`` (pat_manager's coarse detections).
COARSE_IMAGING = NodeSpec("beacon_imaging", "coarse_imaging", OGS_NS, ("beacon_imaging.yaml", "coarse_imaging.yaml"),
                          remappings=(("image", "coarse/image"), ("beacon_centroid", "coarse_centroid")))

#: The OGS coarse tracker: coarse centroids + the mount axis in the ephemeris tangent frame ->
#: the beacon's line of sight that gimbal_controller adds to the ephemeris (coarse loop).
COARSE_TRACK = NodeSpec("track_predictor", "coarse_track", OGS_NS, ("track_predictor.yaml", "coarse_track.yaml"),
                        remappings=(("beacon_centroid", "coarse_centroid"), ("actuator_state", "mount_pointing"),
                                    ("track_estimate", "coarse_track_estimate")))

#: The optical ground station terminal (recorder excluded; each deployment adds its own).
OGS_NODES: tuple[NodeSpec, ...] = (
    COARSE_IMAGING,
    COARSE_TRACK,
    NodeSpec("beacon_imaging", "beacon_imaging", OGS_NS, ("beacon_imaging.yaml",)),
    NodeSpec("track_predictor", "track_predictor", OGS_NS, ("track_predictor.yaml",),
             remappings=(("actuator_state", "fsm_state"),)),
    NodeSpec("ephemeris", "ephemeris", OGS_NS, ("ephemeris.yaml",)),
    NodeSpec("fsm_controller", "fsm_controller", OGS_NS, ("fsm_controller.yaml",)),
    NodeSpec("gimbal_controller", "gimbal_controller", OGS_NS, ("gimbal_controller.yaml",)),
    NodeSpec("pat_manager", "pat_manager", OGS_NS, ("pat_manager.yaml",),
             remappings=(("fine_centroid", "beacon_centroid"),)),
)

#: The satellite terminal (recorder excluded).
SPACE_NODES: tuple[NodeSpec, ...] = (
    NodeSpec("beacon_imaging", "beacon_imaging", SPACE_NS, ("beacon_imaging.yaml", "space_beacon_imaging.yaml")),
    NodeSpec("track_predictor", "track_predictor", SPACE_NS, ("track_predictor.yaml", "space_track_predictor.yaml"),
             remappings=(("actuator_state", "fsm_state"),)),
    # coarse stage: the spacecraft body (ADCS attitude targets in LVLH, seed 001 §3)
    NodeSpec("adcs_pointing", "adcs_pointing", SPACE_NS, ("adcs_pointing.yaml", "space_adcs_pointing.yaml"),
             remappings=(("beacon_track", "track_estimate"),)),
    # fine stage: FSM on the uplink-beacon camera; point-ahead from adcs_pointing's
    # station geometry in the FSM's (body tangent) axes (fine set-point only, seed 004 §2.3)
    NodeSpec("fsm_controller", "fsm_controller", SPACE_NS,
             ("fsm_controller.yaml", "space_fsm_controller.yaml"),
             remappings=(("ephemeris", "fsm_ephemeris"),)),
    # one camera is the satellite's coarse and fine sensor, its body the coarse stage:
    # adcs_pointing's body target and body state are the PAT manager's mount command and state
    NodeSpec("pat_manager", "pat_manager", SPACE_NS, ("pat_manager.yaml", "space_pat_manager.yaml"),
             remappings=(("fine_centroid", "beacon_centroid"), ("coarse_centroid", "beacon_centroid"),
                         ("ephemeris", "ogs_ephemeris"), ("mount_state", "body_state"),
                         ("mount_command", "body_target"))),
)

#: The optical link between the terminals.
LINK_NODES: tuple[NodeSpec, ...] = (
    # the simulated channel takes its geometry (range, range rate) from the OGS ephemeris
    NodeSpec("optical_modem", "optical_modem", "/", ("modem.yaml",),
             remappings=(("ephemeris", "/ogs/ephemeris"),)),
    NodeSpec("qkd_monitor", "qkd_monitor", OGS_NS, ("qkd_monitor.yaml",)),
)

#: The simulator's drivers: parameter files that swap a node's device driver or device topic
#: for the simulator's (``sim`` deployment, after the node's own files); nothing else may
#: differ from the ``ogs`` and ``space`` deployments (test_deployments.py checks both).
SIM_DRIVER_FILES: dict[str, tuple[str, ...]] = {
    "/ogs/coarse_imaging": ("sim_beacon_imaging.yaml",),
    "/ogs/beacon_imaging": ("sim_beacon_imaging.yaml",),
    "/space/beacon_imaging": ("sim_beacon_imaging.yaml",),
    "/ogs/gimbal_controller": ("sim_gimbal_controller.yaml",),
}
#: The parameters a driver file may set: the device driver, and the image transport that
#: lets the lockstep answer every frame (a camera on the simulator's topic).
SIM_DRIVER_KEYS = frozenset({"driver", "qos_reliable", "queue_depth"})


def with_simulator_drivers(spec: NodeSpec) -> NodeSpec:
    """``spec`` as the ``sim`` deployment runs it: the same node, files and remaps, plus the
    files in :data:`SIM_DRIVER_FILES` that swap its device driver for the simulator's."""
    return NodeSpec(spec.executable, spec.name, spec.namespace, (*spec.parameters, *SIM_DRIVER_FILES.get(spec.fqn, ())),
                    spec.remappings, spec.arguments)


#: The nodes that close their loop with the simulator over DDS (``sim`` deployment): both
#: terminals exactly as the ``ogs`` and ``space`` deployments run them, with simulator drivers;
#: the scenario's devices (cameras, FSMs, mount), the station and the TLEs come from
#: :func:`qsat_pat.sim.parameters.node_parameters`.
SIM_LOCKSTEP_NODES: tuple[NodeSpec, ...] = tuple(with_simulator_drivers(s) for s in (*OGS_NODES, *SPACE_NODES))

#: What the OGS station feeds into its terminal's graph.
OGS_EXTERNAL_INPUTS = {
    "/ogs/image": "fine camera driver (sensor_msgs/Image)",
    "/ogs/coarse/image": "coarse (acquisition) camera driver (sensor_msgs/Image)",
    "/ogs/tle": "operator: the satellite's TLE (std_msgs/String, transient local; or the tle_* parameters)",
}
#: What the satellite feeds into its terminal's graph.
SPACE_EXTERNAL_INPUTS = {
    "/space/image": "uplink-beacon camera driver (sensor_msgs/Image)",
    "/space/adcs_state": "ADCS telemetry: attitude and body rates (qsat_pat/AdcsState)",
    "/space/tle": "operator: the satellite's own TLE (std_msgs/String, transient local; or the tle_* parameters)",
    "/space/body_command": "operator: body target override (qsat_pat/PointingCommand, stage BODY)",
}

DEPLOYMENTS: dict[str, Deployment] = {
    "ogs": Deployment(
        name="ogs",
        description="Optical ground station terminal on real hardware.",
        nodes=(NodeSpec("bag_recorder", "bag_recorder", OGS_NS, ("recorder.yaml",)), *OGS_NODES),
        external_inputs=OGS_EXTERNAL_INPUTS,
    ),
    "space": Deployment(
        name="space",
        description="Satellite terminal on real hardware or hardware-in-the-loop.",
        nodes=(NodeSpec("bag_recorder", "bag_recorder", SPACE_NS, ("recorder.yaml",)), *SPACE_NODES),
        external_inputs=SPACE_EXTERNAL_INPUTS,
    ),
    "sim": Deployment(
        name="sim",
        description=("Simulated pass in lockstep over DDS on /clock (simulated UTC): the ogs and space terminals' "
                     "nodes, node for node with their own parameter files, and sim_world (truth, plants, Basilisk "
                     "ADCS) in place of their cameras, mount and ADCS; plus the recorder and the link nodes. "
                     "`qsat-pat sim` starts it and writes the report."),
        nodes=(NodeSpec("sim_world", "sim_world", "/"),
               NodeSpec("bag_recorder", "bag_recorder", "/", ("recorder.yaml", "sim_recorder.yaml")),
               *SIM_LOCKSTEP_NODES, *LINK_NODES),
        use_sim_time=True,
        lockstep=tuple(s.fqn for s in SIM_LOCKSTEP_NODES),
        external_inputs={
            "/ogs/tle": OGS_EXTERNAL_INPUTS["/ogs/tle"], "/space/tle": SPACE_EXTERNAL_INPUTS["/space/tle"],
            "/space/body_command": SPACE_EXTERNAL_INPUTS["/space/body_command"],
            "/modem/tx": "user data to send over the optical link (std_msgs/UInt8MultiArray)",
        },
        simulated_devices={
            "/clock": "simulated time (the pass's UTC)",
            "/ogs/image": "the OGS fine camera", "/ogs/coarse/image": "the OGS coarse camera",
            "/ogs/mount_encoder": "the OGS mount's encoders (gimbal_controller driver 'sim')",
            "/space/image": "the satellite's uplink-beacon camera",
            "/space/adcs_state": "the satellite's ADCS (Basilisk): attitude estimate and body rates",
        },
    ),
}


def station_file(station: str) -> str:
    """Parameter file of a station: a name in ``config/stations/`` or a path to a YAML file."""
    return station if station.endswith((".yaml", ".yml")) else f"stations/{station}.yaml"


def parameter_files(deployment: Deployment, spec: NodeSpec) -> tuple[str, ...]:
    """The parameter files of a node in a deployment, in the order they apply: the node's own
    files, then the deployment's station file (so a deployment has one station)."""
    return (*spec.parameters, station_file(deployment.station))


def lockstep_environment(deployment: Deployment, spec: NodeSpec, directory: str) -> dict[str, str]:
    """Environment a node of ``deployment`` needs for the strict lockstep (empty if none)."""
    if spec.fqn in deployment.lockstep or (deployment.lockstep and spec.executable == "sim_world"):
        return {"QSAT_PAT_LOCKSTEP_DIR": directory}
    return {}


def get_deployment(name: str) -> Deployment:
    """The deployment called ``name``; raises DeploymentError listing the known ones."""
    from qsat_pat.core.errors import DeploymentError

    try:
        return DEPLOYMENTS[name]
    except KeyError:
        raise DeploymentError(
            f"unknown deployment {name!r}; known: {sorted(DEPLOYMENTS)}"
        ) from None


def console_scripts() -> list[str]:
    """setuptools ``console_scripts`` entries: ``qsat-pat`` and every node executable."""
    return ["qsat-pat = qsat_pat.cli:main"] + [
        f"{exe} = {mod}:main" for exe, mod in sorted(EXECUTABLES.items())
    ]


if __name__ == "__main__":
    if sys.argv[1:] == ["--executables"]:
        print(";".join(f"{exe}={mod}" for exe, mod in sorted(EXECUTABLES.items())), end="")
    else:
        print("usage: deployments.py --executables", file=sys.stderr)
        sys.exit(2)
