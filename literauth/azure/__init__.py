"""Azure: Microsoft Entra ID (Azure AD) credentials for Azure OpenAI and other Azure APIs.

One module per mechanism; `client_secret` is the app-registration secret and `workload_identity`
the AKS federated token file (both the client-credentials grant, `_confidential`).
"""

from .client_secret import AzureAdCredentialProvider
from .workload_identity import WorkloadIdentityCredentialProvider

__all__ = ["AzureAdCredentialProvider", "WorkloadIdentityCredentialProvider"]
