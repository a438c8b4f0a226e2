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

"""Imported first by the workers' fork server (`parallel`), before TensorFlow.

The server's import of TensorFlow runs beside the command's (`commands`)
and may end after the command's last line: a bad input's one-line error,
a summary, a stop.
  * Ctrl-C: a terminal's reaches every process of the command; the
    command turns it into its one-line stop and ends its workers. The
    server ignores it once its imports are done; one during them would
    print a traceback, and the server would go on importing. With the
    default action it ends there, silently (the command is stopping).
  * TensorFlow's start-up log (its C++ INFO lines) is the command's to
    print; the server's copy would follow the command's last line.
Not imported anywhere else.
"""
import os
import signal

signal.signal(signal.SIGINT, signal.SIG_DFL)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')
