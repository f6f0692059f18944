"""Vigil's domain code, shared by Lambdas, training, inference, the Glue job and local stand-ins.

Keep this file empty of imports: the DGL shim's .pth hook imports ``vigil.dgl_compat`` at every
interpreter start, and that must stay cheap.
"""
