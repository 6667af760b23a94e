"""Robot side: policy client, wire protocol, ROS bridge, safety limits. No torch."""
