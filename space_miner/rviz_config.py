# SPDX-License-Identifier: Apache-2.0
"""The rviz config for a robot in a namespace: ``config/space_miner.rviz`` with its names moved.

rviz2's displays and tools name absolute topics (``/odom``, ``/goal_pose``), so a config
written for the root namespace shows nothing of a robot in ``/r1``. :func:`namespaced`
rewrites every topic of the robot the config names (the ``Value:`` of a display's or tool's
topic, matched against interfaces.py's robot topics and ``/robot_description``) to its name
under the namespace; everything else (``/clock`` were it shown, frames, comments, layout) is
left as it is, line for line. ``rviz.launch.py namespace:=r1`` writes the result to a
temporary file and starts rviz2 in the namespace with ``/tf`` and ``/tf_static`` remapped,
so the robot's own tf tree drives it. The root namespace gives the file unchanged.
"""

import re

from space_miner import interfaces as itf

_VALUE = re.compile(r'^(?P<head>\s*Value:\s*)(?P<name>/\S+?)(?P<tail>\s*)$')


def namespaced(text: str, namespace: str) -> str:
    """Return the rviz config ``text`` with the robot's topics under ``namespace``."""
    namespace = itf.normalize_namespace(namespace)
    if not namespace:
        return text
    robot = set(itf.robot_topic_names())
    lines = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip('\r\n')
        match = _VALUE.match(body)
        if match and match['name'] in robot:
            body = f"{match['head']}{namespace}{match['name']}{match['tail']}"
        lines.append(body + line[len(line.rstrip('\r\n')):])
    return ''.join(lines)
