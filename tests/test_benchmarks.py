# Copyright 2026 The TensorFlow Authors. All Rights Reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""The benchmarks behind the README's figures still run, at tiny size.

Their figures are printed, not checked (a timing is the reader's); these
run each end to end on a few images so that one broken by a change is
seen here, not by the next person who reruns it. The evaluation
benchmarks and the device check are run by their own tests
(test_lvis_evaluation, test_mask_evaluation, test_resources). Not here:
convert_speed (four commands, each importing TensorFlow: 70 s for little;
copy_paste_speed runs its dataset maker) and precision (it trains
detectors).
"""
import re

import pytest

from tests.benchmarks import copy_paste_speed
from tests.benchmarks import frozen_weights_dtype


@pytest.mark.slow
def test_copy_paste_speed_prints_each_pipeline(capsys):
  copy_paste_speed.main(['--images', '4', '--batches', '1', '--batch_size',
                         '2', '--input_size', '64', '--repeats', '1'])
  out = capsys.readouterr().out
  rates = re.findall(r'^  (.+?) +([0-9.]+) images/s +([0-9.]+)x', out,
                     re.MULTILINE)
  assert [name for name, _, _ in rates] == [
      'plain LSJ', 'copy-paste', 'copy-paste, seeded'], out
  assert all(float(rate) > 0 for _, rate, _ in rates)
  assert float(rates[0][2]) == 1.0  # plain against itself


def test_frozen_weights_dtype_compares_the_same_network(capsys):
  frozen_weights_dtype.main(['--batch_size', '1', '--input_size', '32',
                             '--rounds', '1', '--steps', '1'])
  out = capsys.readouterr().out
  megabytes = [float(m) for m in re.findall(r'\| ([0-9.]+) \|$', out,
                                            re.MULTILINE)]
  assert len(megabytes) == 2 and megabytes[1] == pytest.approx(
      megabytes[0] / 2, rel=0.01), out  # bfloat16 weights: half the bytes
  difference = float(re.search(r'largest output difference: (\S+)',
                               out).group(1))
  assert difference < 0.1, out  # the same weights, both computing in bf16
