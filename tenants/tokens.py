"""JWTs that say whose they are: the tenant and the member's role ride in the claims."""

from rest_framework_simplejwt.serializers import TokenObtainPairSerializer

from tenants.models import Membership


class TenantTokenObtainPairSerializer(TokenObtainPairSerializer):
    @classmethod
    def get_token(cls, user):
        token = super().get_token(user)
        membership = Membership.objects.select_related("tenant").filter(user=user).first()
        if membership is not None:
            token["tenant"] = str(membership.tenant_id)
            token["role"] = membership.role
        return token
