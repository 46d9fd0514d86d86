"""Reading and writing: ffmpeg children, y4m streams, inputs and outputs, frame rings, mapping files."""
