import sys

from picsellia_tf.cli import main

sys.exit(main())
