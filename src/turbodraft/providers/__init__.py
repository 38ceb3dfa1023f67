"""Image providers: the RunPod Serverless client, a local RunPod-compatible server, and their handlers."""
