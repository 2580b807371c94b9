"""Publisher process of test_messages.py: publishes a sample of every qsat_pat message.

Runs until killed or 30 s pass (bounded); topic /roundtrip/<Message>.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rclpy
from msg_samples import MESSAGE_NAMES, sample
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
rclpy.init()
node = rclpy.create_node("roundtrip_publisher")
msgs = {n: sample("qsat_pat.msg", n, seed=3) for n in MESSAGE_NAMES}
pubs = {n: node.create_publisher(type(m), f"/roundtrip/{n}", qos) for n, m in msgs.items()}
print("ready", flush=True)
deadline = time.monotonic() + 30.0
try:
    while time.monotonic() < deadline:
        for n, m in msgs.items():
            pubs[n].publish(m)
        rclpy.spin_once(node, timeout_sec=0.1)
except KeyboardInterrupt:
    pass
finally:
    node.destroy_node()
    rclpy.try_shutdown()
