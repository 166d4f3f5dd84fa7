"""Make a static model fitted to a library's own text ("make your own potion").

The recipe (issue 19): distil the teacher's raw token vectors, centre and SIF-weight them, embed the library's
chunks (and, if asked, a sample of its sentences) with the teacher, fit the token vectors so each text's mean
vector matches the teacher's, then project onto the top eigenvectors. torch and transformers are imported only
inside functions, and only with the optional extra installed (requirements-adapt.txt); see core.adapt.extra.
"""
