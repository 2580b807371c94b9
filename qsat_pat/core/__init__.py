"""ROS-free algorithms of qsat_pat.

Nothing in this package may import ``rclpy``, a ``*_msgs`` package or ``qsat_pat.msg``
(``test/test_core_is_ros_free.py`` enforces it).  SI units and radians inside; time is
always passed in explicitly.
"""
