"""Hardware I/O adapters (no ROS): abstract driver interfaces and protocol drivers.

* :mod:`.base`: abstract FSM and mount driver interfaces (cameras and the ADCS are topics).
* :mod:`.worker`: a mount driver's blocking I/O on its own thread (``gimbal_controller``).
* :mod:`.rotctld`: hamlib ``rotctld`` TCP client for az/el mounts (SatNOGS, gpredict).
* :mod:`.serial_fsm`: ASCII-protocol FSM driver over any byte stream.
* :mod:`.fake_devices`: loopback fake rotctld server and fake FSM for tests.
"""
