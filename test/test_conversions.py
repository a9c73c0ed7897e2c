# SPDX-License-Identifier: Apache-2.0
"""Message conversions: round trips, both depth encodings, refused commands."""

import numpy as np
import pytest

pytest.importorskip('rclpy')

from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Float64MultiArray  # noqa: E402

from space_miner.nodes import conversions as cv  # noqa: E402


def test_stamps_round_trip_without_drift():
    for t in (0.0, 0.002, 1.999999999, 12345.678901234):
        assert cv.from_stamp(cv.to_stamp(t)) == pytest.approx(t, abs=1e-9)
    assert cv.to_stamp(0.9999999999).nanosec < 1_000_000_000


def test_depth_32fc1_round_trip_marks_invalid_returns_nan():
    depth = np.array([[1.0, 2.5, 0.0], [np.inf, 0.3, np.nan]], dtype=np.float32)
    out = cv.depth_image_array(cv.depth_image_msg(1.0, 'camera_depth_optical_frame', depth))
    assert out.shape == (2, 3)
    assert out[0, 0] == 1.0 and out[0, 1] == 2.5 and out[1, 1] == pytest.approx(0.3)
    assert np.isnan(out[0, 2]) and np.isnan(out[1, 0]) and np.isnan(out[1, 2])


def test_depth_16uc1_millimetres_with_row_padding():
    mm = np.array([[1000, 0], [250, 65535]], dtype='<u2')
    msg = Image(height=2, width=2, encoding='16UC1', is_bigendian=0, step=6)
    padded = np.zeros((2, 6), dtype=np.uint8)
    padded[:, :4] = mm.view(np.uint8).reshape(2, 4)
    msg.data = padded.tobytes()
    out = cv.depth_image_array(msg)
    assert out[0, 0] == pytest.approx(1.0) and out[1, 0] == pytest.approx(0.25)
    assert np.isnan(out[0, 1]) and out[1, 1] == pytest.approx(65.535)


@pytest.mark.parametrize('encoding, step, nbytes, words', [
    ('rgb8', 6, 12, 'not supported'),
    ('32FC1', 8, 4, 'do not fit'),
])
def test_bad_depth_images_are_refused_with_a_reason(encoding, step, nbytes, words):
    msg = Image(height=2, width=2, encoding=encoding, step=step)
    msg.data = bytes(nbytes)
    with pytest.raises(ValueError, match=words):
        cv.depth_image_array(msg)


@pytest.mark.parametrize('data, words', [
    ([1.0, 2.0], 'expected 3 values, got 2'),
    ([1.0, float('nan'), 0.0], 'element 1 is not finite'),
    ([1.0, 2.0, 250.0], 'element 2 = 250 outside'),
    ([-1.0, 2.0, 3.0], 'element 0 = -1 outside'),
])
def test_command_arrays_are_checked(data, words):
    msg = Float64MultiArray(data=data)
    with pytest.raises(ValueError, match=words):
        cv.command_array(msg, 3, [0.0] * 3, [200.0] * 3, 'claw')


def test_command_array_accepts_a_valid_command():
    msg = cv.float_array_msg([10.0, 200.0, 0.0])
    assert np.array_equal(cv.command_array(msg, 3, [0.0] * 3, [200.0] * 3, 'claw'),
                          [10.0, 200.0, 0.0])


def test_joint_state_picks_joints_by_name_and_marks_missing_nan():
    msg = cv.joint_state_msg(2.5, ['b', 'a'], [2.0, 1.0], [0.2, 0.1], [20.0, 10.0])
    t, pos, vel, eff = cv.joint_state_arrays(msg, ['a', 'b', 'c'])
    assert t == 2.5
    assert list(pos[:2]) == [1.0, 2.0] and list(eff[:2]) == [10.0, 20.0]
    assert np.isnan(pos[2]) and np.isnan(vel[2])


def test_imu_wrench_odometry_round_trip():
    t, q, w, a = cv.imu_arrays(cv.imu_msg(1.0, 'imu_link', [1, 0, 0, 0], [0.1, 0.2, 0.3],
                                          [0, 0, -1e-4]))
    assert list(q) == [1, 0, 0, 0] and list(w) == [0.1, 0.2, 0.3]
    t, f, m = cv.wrench_arrays(cv.wrench_msg(1.0, 'c1_ft_link', [1, 2, 3], [4, 5, 6]))
    assert list(f) == [1, 2, 3] and list(m) == [4, 5, 6]
    cov = np.diag([1.0, 2, 3, 4, 5, 6])
    t, p, q, v, w, pc = cv.odometry_arrays(cv.odometry_msg(
        3.0, 'odom', 'base_link', [1, 2, 3], [0, 0, 0, 1], [0.1, 0, 0], [0, 0, 0.2], cov))
    assert t == 3.0 and list(p) == [1, 2, 3] and list(q) == [0, 0, 0, 1]
    assert np.array_equal(pc, cov)


def test_camera_info_carries_the_intrinsics():
    k = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    msg = cv.camera_info_msg(0.0, 'camera_depth_optical_frame', 640, 480, k)
    assert list(msg.k) == list(k.reshape(9))
    assert msg.p[0] == 500.0 and msg.p[2] == 320.0 and msg.p[3] == 0.0
